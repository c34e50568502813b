"""`$filter` → an SQLAlchemy condition, with odata-query's parser and its SQLAlchemy Core visitor.

The library parses the expression and combines conditions (`and`, `or`, `not`). This module narrows it to
what the feed answers the same way on SQLite and PostgreSQL, and refuses the rest as `ODataQueryError`
(a 400), so no expression reaches the database that it would reject with an error:

- comparisons `eq ne gt ge lt le` and `in`, between a property and a literal of its type (or two
  properties of one type); literals take the column's SQL type, so a timestamp with an offset is
  compared in UTC and a decimal as a number, never as text. A one-item list needs a trailing comma,
  `kind in ('custom',)`: odata-query reads `('custom')` as a parenthesised value;
- `contains`, `startswith`, `endswith` on string properties, optionally over `tolower`/`toupper`; they
  are case-sensitive on both backends (SQLite's LIKE is not), and `%` or `_` in the text match themselves;
- OData's two-valued logic: `null` compares as a value (`currency eq null`, `currency ne 'EUR'` includes
  outcomes without a currency), so `not` of a comparison is its exact complement.

Arithmetic, lambda operators, navigation paths and other functions are refused, and so is an expression
nested more than `MAX_NESTING` levels deep (it would exhaust Python's stack here or in SQLAlchemy's
compiler); a long chain of one operator (`a or b or c …`, as Power BI writes a list) is one level.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from odata_query import ast
from odata_query import exceptions as odata_errors
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sqlalchemy.core import AstToSqlAlchemyCoreVisitor
from sqlalchemy import and_, false, func, literal, or_, true
from sqlalchemy.sql.elements import ColumnElement

from comerix.analytics.odata.entities import Edm, EntitySet, Property, Storage
from comerix.analytics.odata.errors import ODataQueryError

Comparator = Callable[[Any, Any], ColumnElement[bool]]
MIRRORED = {
    ast.Lt: ast.Gt,
    ast.Gt: ast.Lt,
    ast.LtE: ast.GtE,
    ast.GtE: ast.LtE,
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
}
TEXT_TESTS = frozenset({"contains", "startswith", "endswith"})
TEXT_FUNCTIONS = {"tolower": func.lower, "toupper": func.upper}
LITERALS_OF: dict[Edm, tuple[type[ast._Literal], ...]] = {
    Edm.STRING: (ast.String,),
    Edm.BOOLEAN: (ast.Boolean,),
    Edm.INT32: (ast.Integer,),
    Edm.DECIMAL: (ast.Integer, ast.Float),
    Edm.DATE_TIME_OFFSET: (ast.DateTime, ast.Date),
}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_NESTING = 64
EXAMPLES = {
    Edm.STRING: "'text'",
    Edm.BOOLEAN: "true",
    Edm.INT32: "24",
    Edm.DECIMAL: "129.50",
    Edm.DATE_TIME_OFFSET: "2026-11-02T09:30:00Z",
}


def condition(entity_set: EntitySet, text: str, dialect: str) -> ColumnElement[bool]:
    """The SQL condition of a `$filter` expression on `entity_set`, or `ODataQueryError`."""
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
        if nesting(tree) > MAX_NESTING:
            raise ODataQueryError(f"$filter: nested more than {MAX_NESTING} levels deep", "$filter")
        return FilterVisitor(entity_set, dialect).condition(tree)
    except odata_errors.ODataException as exc:
        raise ODataQueryError(f"$filter: {_plain(exc)}", "$filter") from None


def nesting(tree: ast._Node) -> int:
    """How deep `tree` nests, counting a chain of one boolean operator as one level. Iterative."""
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        for child in _children(node):
            chained = isinstance(node, ast.BoolOp) and _same_operator(node, child)
            pending.append((child, depth if chained else depth + 1))
    return deepest


def _children(node: ast._Node) -> Iterator[ast._Node]:
    for field in fields(node):
        value = getattr(node, field.name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, ast._Node):
                yield item


def _same_operator(node: ast.BoolOp, other: ast._Node) -> bool:
    return isinstance(other, ast.BoolOp) and type(other.op) is type(node.op)


def _plain(exc: odata_errors.ODataException) -> str:
    if isinstance(exc, odata_errors.InvalidFieldException):
        return f"unknown property {exc.field_name!r}"
    if isinstance(exc, odata_errors.ParsingException):
        token = exc.token
        where = f"at {token.value!r} (position {token.index})" if token is not None else "at its end"
        return f"the expression cannot be read {where}"
    if isinstance(exc, odata_errors.TokenizingException):
        return f"the expression cannot be read at position {exc.token.index}"
    return str(exc)


class _Operand:
    """One side of a comparison that is a property, or a string function over one."""

    def __init__(self, expression: ColumnElement[Any], prop: Property, *, bare: bool) -> None:
        self.expression = expression
        self.prop = prop
        self.bare = bare  # the property itself, not a function of it

    @property
    def edm(self) -> Edm:
        return self.prop.edm


class FilterVisitor(AstToSqlAlchemyCoreVisitor):
    """odata-query's Core visitor, with the feed's properties in place of a table's columns."""

    def __init__(self, entity_set: EntitySet, dialect: str) -> None:
        # The base class reads columns from a table; `visit_Identifier` below reads properties instead.
        self.entity_set = entity_set
        self.dialect = dialect

    def condition(self, node: ast._Node) -> ColumnElement[bool]:
        """`node` as a condition: a comparison, a text test, a boolean property or a combination."""
        if isinstance(node, ast.Boolean):
            return true() if node.py_val else false()
        if isinstance(node, ast.Identifier | ast.Call) and not _is_text_test(node):
            operand = self.operand(node)
            if operand.edm is not Edm.BOOLEAN:
                raise ODataQueryError(f"$filter: {operand.prop.name} is not a condition", "$filter")
            return self._compare(ast.Eq(), operand, ast.Boolean("true"))
        if isinstance(node, ast.Compare | ast.BoolOp | ast.UnaryOp | ast.Call):
            result: ColumnElement[bool] = self.visit(node)
            return result
        raise ODataQueryError("$filter: the expression is not a condition", "$filter")

    def operand(self, node: ast._Node) -> _Operand:
        if isinstance(node, ast.Identifier):
            prop = self._property(node)
            return _Operand(prop.filter_expression(self.dialect), prop, bare=True)
        if isinstance(node, ast.Call) and node.func.name in TEXT_FUNCTIONS and len(node.args) == 1:
            inner = self.operand(node.args[0])
            if inner.edm is not Edm.STRING:
                raise ODataQueryError(f"$filter: {node.func.name} needs a string property", "$filter")
            return _Operand(TEXT_FUNCTIONS[node.func.name](inner.expression), inner.prop, bare=False)
        raise _unsupported(node)

    def _property(self, node: ast.Identifier) -> Property:
        prop = self.entity_set.property_named(node.name) if not node.namespace else None
        if prop is None:
            raise odata_errors.InvalidFieldException(".".join((*node.namespace, node.name)))
        if not prop.queryable:
            raise ODataQueryError(f"$filter: {prop.name} holds JSON text and cannot be filtered", "$filter")
        return prop

    # Nodes of the library's visitor, narrowed. Its annotations name narrower SQLAlchemy classes than
    # `and_`, `or_` and the comparisons return, hence the ignores.

    def visit_Identifier(self, node: ast.Identifier) -> ColumnElement[Any]:  # type: ignore[override]
        return self.operand(node).expression

    def visit_BoolOp(self, node: ast.BoolOp) -> ColumnElement[bool]:  # type: ignore[override]
        """A chain `a or b or c …` as one flat SQL `OR` (the parser nests it one level per operator)."""
        operands: list[ast._Node] = []
        pending: list[ast._Node] = [node]
        while pending:
            current = pending.pop()
            if isinstance(current, ast.BoolOp) and _same_operator(node, current):
                pending += [current.right, current.left]
            else:
                operands.append(current)
        combine = and_ if isinstance(node.op, ast.And) else or_
        return combine(*(self.condition(operand) for operand in operands))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ColumnElement[bool]:
        if not isinstance(node.op, ast.Not):
            raise _unsupported(node)
        return ~self.condition(node.operand)

    def visit_Compare(self, node: ast.Compare) -> ColumnElement[bool]:  # type: ignore[override]
        left, right, comparator = node.left, node.right, node.comparator
        if isinstance(left, ast._Literal) and not isinstance(right, ast._Literal):
            left, right = right, left
            comparator = MIRRORED[type(comparator)]() if type(comparator) in MIRRORED else comparator
        if isinstance(left, ast._Literal):
            raise ODataQueryError("$filter: compare a property with a value, not two values", "$filter")
        operand = self.operand(left)
        if isinstance(right, ast._Literal):
            return self._compare(comparator, operand, right)
        return self._compare_properties(comparator, operand, self.operand(right))

    def visit_Call(self, node: ast.Call) -> ColumnElement[bool]:
        if not _is_text_test(node):
            raise _unsupported(node)
        return self._text_test(node.func.name, node.args)

    def generic_visit(self, node: ast._Node) -> Any:
        raise _unsupported(node)

    # Comparisons ------------------------------------------------------------------------------------

    def _compare(self, comparator: ast._Node, operand: _Operand, value: ast._Literal) -> ColumnElement[bool]:
        column = operand.expression
        if isinstance(comparator, ast.In):
            return self._in(operand, value)
        if isinstance(value, ast.Null):
            if isinstance(comparator, ast.Eq):
                return column.is_(None)
            if isinstance(comparator, ast.NotEq):
                return column.is_not(None)
            return false()  # OData: any other comparison with null is false
        native = self._native_id(comparator, operand, value)
        if native is not None:
            return native
        bound = literal(self._coerce(operand, value), type_=column.type)
        compared: ColumnElement[bool] = self._operator(comparator)(column, bound)
        return self._two_valued(comparator, compared, column, operand.prop.nullable)

    def _compare_properties(
        self, comparator: ast._Node, left: _Operand, right: _Operand
    ) -> ColumnElement[bool]:
        if left.edm is not right.edm:
            raise ODataQueryError(
                f"$filter: {left.prop.name} ({left.edm.value}) and {right.prop.name} ({right.edm.value}) "
                "cannot be compared",
                "$filter",
            )
        a, b = left.expression, right.expression
        if isinstance(comparator, ast.Eq):
            return a.is_not_distinct_from(b)
        if isinstance(comparator, ast.NotEq):
            return a.is_distinct_from(b)
        return and_(a.is_not(None), b.is_not(None), self._operator(comparator)(a, b))

    def _operator(self, comparator: ast._Node) -> Comparator:
        if isinstance(comparator, ast.Eq | ast.NotEq | ast.Lt | ast.LtE | ast.Gt | ast.GtE):
            compare: Comparator = self.visit(comparator)
            return compare
        raise _unsupported(comparator)

    @staticmethod
    def _two_valued(
        comparator: ast._Node, compared: ColumnElement[bool], column: ColumnElement[Any], nullable: bool
    ) -> ColumnElement[bool]:
        """SQL's unknown made false (or true for `ne`), as OData's null comparisons are."""
        if not nullable:
            return compared
        if isinstance(comparator, ast.NotEq):
            return or_(column.is_(None), compared)
        return and_(column.is_not(None), compared)

    def _in(self, operand: _Operand, values: ast._Literal) -> ColumnElement[bool]:
        if not isinstance(values, ast.List):
            raise ODataQueryError(
                "$filter: `in` needs a list, like kind in ('conversion','custom')", "$filter"
            )
        present = [value for value in values.val if not isinstance(value, ast.Null)]
        matches = [self._compare(ast.Eq(), operand, value) for value in present]
        if len(present) < len(values.val):
            matches.append(operand.expression.is_(None))
        return or_(false(), *matches)

    @staticmethod
    def _native_id(
        comparator: ast._Node, operand: _Operand, value: ast._Literal
    ) -> ColumnElement[bool] | None:
        """`id eq '…'` on a UUID compares the stored UUID, which the primary key's index answers."""
        equal = isinstance(comparator, ast.Eq)
        if not (
            operand.bare
            and operand.prop.storage is Storage.UUID
            and isinstance(value, ast.String)
            and isinstance(comparator, ast.Eq | ast.NotEq)
        ):
            return None
        try:
            wanted = uuid.UUID(value.py_val)
        except ValueError:
            wanted = None
        if wanted is None or str(wanted) != value.py_val:  # only the exact text the feed shows matches
            return false() if equal else true()
        column = operand.prop.column
        return column == wanted if equal else column != wanted

    def _coerce(self, operand: _Operand, value: ast._Literal) -> Any:
        """The literal as a Python value of the property's type, or `ODataQueryError`."""
        edm = operand.edm
        if not isinstance(value, LITERALS_OF[edm]):
            raise ODataQueryError(
                f"$filter: {operand.prop.name} is {edm.value}; compare it with a value like {EXAMPLES[edm]}",
                "$filter",
            )
        try:
            return _python_value(edm, value)
        except (ValueError, InvalidOperation, OverflowError):
            written = getattr(value, "val", value)
            raise ODataQueryError(f"$filter: {written!r} is not a valid {edm.value}", "$filter") from None

    # Text tests -------------------------------------------------------------------------------------

    def _text_test(self, name: str, args: list[ast._Node]) -> ColumnElement[bool]:
        if len(args) != 2 or not isinstance(args[1], ast.String):
            raise ODataQueryError(f"$filter: {name} takes a string property and a string", "$filter")
        operand = self.operand(args[0])
        if operand.edm is not Edm.STRING:
            raise ODataQueryError(f"$filter: {name} needs a string property", "$filter")
        text = checked_text(args[1].py_val)
        column = operand.expression
        test = _text_match(name, column, text)
        return and_(column.is_not(None), test) if operand.prop.nullable else test


def _text_match(name: str, column: ColumnElement[Any], text: str) -> ColumnElement[bool]:
    """A case-sensitive text test written with `substr`, `length` and `replace`, which both backends
    have and treat alike; LIKE would be case-insensitive on SQLite and take `%` and `_` as wildcards."""
    size = len(text)
    if size == 0:
        return true()
    if name == "startswith":
        return func.substr(column, 1, size) == text
    if name == "endswith":
        # A string shorter than the text gives a shorter substring, which cannot equal it.
        return func.substr(column, func.length(column) - size + 1) == text
    return func.length(func.replace(column, text, "")) < func.length(column)


def _python_value(edm: Edm, value: ast._Literal) -> Any:
    """The literal's value; ValueError when it is not a value of the type (the caller says so)."""
    if edm is Edm.DECIMAL:
        assert isinstance(value, ast.Integer | ast.Float)
        number = Decimal(value.val)
        if not number.is_finite():
            raise ValueError(value.val)
        return number
    if edm is Edm.INT32:
        assert isinstance(value, ast.Integer)
        whole = int(value.val)
        if not INT32_MIN <= whole <= INT32_MAX:
            raise ValueError(value.val)
        return whole
    if edm is Edm.DATE_TIME_OFFSET:
        moment = value.py_val
        if not isinstance(moment, datetime):
            assert isinstance(moment, date)
            return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)  # a date: its UTC midnight
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if edm is Edm.STRING:
        return checked_text(value.py_val)
    return value.py_val


def checked_text(text: str) -> str:
    """Stored text never holds NUL (ingestion refuses it) and PostgreSQL cannot take it in a query."""
    if "\x00" in text:
        raise ODataQueryError("a value must not contain the NUL character", "$filter")
    return text


def _is_text_test(node: ast._Node) -> bool:
    return isinstance(node, ast.Call) and node.func.name in TEXT_TESTS


def _unsupported(node: ast._Node) -> ODataQueryError:
    if isinstance(node, ast.Call):
        what = f"the function {node.func.name}"
    elif isinstance(node, ast.BinOp):
        what = "arithmetic"
    elif isinstance(node, ast.Attribute):
        what = "a navigation path"
    elif isinstance(node, ast.CollectionLambda):
        what = "any/all"
    else:
        what = type(node).__name__
    return ODataQueryError(f"$filter: {what} is not supported here", "$filter")
