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

Arithmetic, lambda operators, navigation paths and other functions are refused.

Size: Power BI writes a list of keys as `Id in ('a', 'b', …)` or `Id eq 'a' or Id eq 'b' or …`, often
hundreds or thousands of them. A `$filter` may hold up to `MAX_VALUES` values (list items and compared
values together) and `MAX_TOKENS` tokens; the lexer is stopped at the first one beyond, so a longer text
costs no more than that, and the answer is a 400 naming the limit. Within them every expression runs on
both backends:
- the equalities of an `or` chain on one property, and an `in` list, become one SQL `IN (…)`, which
  the index answers, rather than thousands of `OR` terms that every row is tested against;
- SQLite parses `a OR b OR c …` into a tree one level deeper per term and refuses 1,000 levels, so a
  chain of more than `CHAIN` conditions is sent in parenthesised groups of `CHAIN` (`_balanced`);
- SQLite's parser also overflows its stack at about 30 nested parentheses, and Python's stack
  bounds SQLAlchemy's compiler: an expression whose SQL would nest more than `MAX_NESTING` levels is
  refused (`nesting`: a chain of one operator is one level, and one more for each level of groups);
- each value is at most one bound parameter (the constants of the SQL written here are inlined), so
  a query stays below SQLite's 32,766 parameters and PostgreSQL's 65,535.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from odata_query import ast
from odata_query import exceptions as odata_errors
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sqlalchemy.core import AstToSqlAlchemyCoreVisitor
from sqlalchemy import Integer, String, and_, false, func, literal, literal_column, or_, true
from sqlalchemy.sql.elements import ColumnElement, Grouping

from comerix.analytics.odata.entities import Edm, EntitySet, Property, Storage
from comerix.analytics.odata.errors import ODataQueryError
from comerix.money import AMOUNT_RANGE, MAX_DECIMALS, in_range, kept_amount

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
    Edm.INT64: (ast.Integer,),
    Edm.DECIMAL: (ast.Integer, ast.Float),
    Edm.DATE_TIME_OFFSET: (ast.DateTime, ast.Date),
    Edm.DATE: (ast.Date,),
}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INTEGER_RANGES = {Edm.INT32: (INT32_MIN, INT32_MAX), Edm.INT64: (INT64_MIN, INT64_MAX)}
MAX_NESTING = 24  # under the depth at which SQLite's parser overflows (see above), with a margin
MAX_VALUES = 10_000
MAX_TOKENS = 100_000
# The lexer's token types that are values. Whitespace counts as nothing.
VALUE_TOKENS = frozenset(
    {
        "NULL",
        "STRING",
        "GEOGRAPHY",
        "GUID",
        "DATETIME",
        "DATE",
        "TIME",
        "DURATION",
        "DECIMAL",
        "INTEGER",
        "BOOLEAN",
    }
)
CHAIN = 16  # terms of a chain sent as they are; a longer one goes in parenthesised groups
EXAMPLES = {
    Edm.STRING: "'text'",
    Edm.BOOLEAN: "true",
    Edm.INT32: "24",
    Edm.INT64: "3600",
    Edm.DECIMAL: "129.50",
    Edm.DATE_TIME_OFFSET: "2026-11-02T09:30:00Z",
    Edm.DATE: "2026-11-02",
}


def condition(entity_set: EntitySet, text: str, dialect: str) -> ColumnElement[bool]:
    """The SQL condition of a `$filter` expression on `entity_set`, or `ODataQueryError`."""
    try:
        tree = ODataParser().parse(_within_limits(ODataLexer().tokenize(text)))
        if nesting(tree) > MAX_NESTING:
            raise ODataQueryError(f"$filter: nested more than {MAX_NESTING} levels deep", "$filter")
        return FilterVisitor(entity_set, dialect).condition(tree)
    except odata_errors.ODataException as exc:
        raise ODataQueryError(f"$filter: {_plain(exc)}", "$filter") from None


def _within_limits(tokens: Iterator[Any]) -> Iterator[Any]:
    """The lexer's tokens, stopped by an `ODataQueryError` past `MAX_VALUES` values or `MAX_TOKENS`
    tokens: the text beyond is never read, however long it is."""
    values = count = 0
    for token in tokens:
        if token.type != "WS":
            count += 1
            if token.type in VALUE_TOKENS:
                values += 1
            if values > MAX_VALUES:
                raise ODataQueryError(
                    f"$filter: more than {MAX_VALUES:,} values (list items and compared values together); "
                    "split it over several requests",
                    "$filter",
                )
            if count > MAX_TOKENS:
                raise ODataQueryError(
                    f"$filter: longer than {MAX_TOKENS:,} names, values, operators and brackets", "$filter"
                )
        yield token


def nesting(tree: ast._Node) -> int:
    """How deep the SQL of `tree` nests: a chain of one boolean operator is one level, plus one for
    each level of parenthesised groups it is sent in (`_balanced`). Iterative."""
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(node, ast.BoolOp):
            operands = _chain(node)
            below = depth + 1 + _grouping_levels(_sql_terms(node, operands))
            pending += [(operand, below) for operand in operands]
        else:
            pending += [(child, depth + 1) for child in _children(node)]
    return deepest


def _chain(node: ast.BoolOp) -> list[ast._Node]:
    """The operands of the chain of `node`'s operator that `node` heads, in order (`a or b or c`
    parses as `(a or b) or c`). Iterative."""
    operands: list[ast._Node] = []
    pending: list[ast._Node] = [node]
    while pending:
        current = pending.pop()
        if _same_operator(node, current):
            assert isinstance(current, ast.BoolOp)
            pending += [current.right, current.left]
        else:
            operands.append(current)
    return operands


def _listed(node: ast._Node) -> tuple[ast.Identifier, list[ast._Node]] | None:
    """`property eq value`, `value eq property` or `property in (values)` as the property and its
    values: what an `or` chain gathers into one `IN`. None for any other condition."""
    if not isinstance(node, ast.Compare):
        return None
    left, right = node.left, node.right
    if isinstance(left, ast._Literal) and isinstance(right, ast.Identifier):
        left, right = right, left
    if not isinstance(left, ast.Identifier) or left.namespace:
        return None
    if (
        isinstance(node.comparator, ast.Eq)
        and isinstance(right, ast._Literal)
        and not isinstance(right, ast.List)
    ):
        return left, [right]
    if isinstance(node.comparator, ast.In) and isinstance(right, ast.List):
        return left, list(right.val)
    return None


def _sql_terms(node: ast.BoolOp, operands: list[ast._Node]) -> int:
    """How many conditions the chain's SQL holds: an `or` chain's equalities on one property are one."""
    if isinstance(node.op, ast.And):
        return len(operands)
    listed = [_listed(operand) for operand in operands]
    properties = {found[0].name for found in listed if found is not None}
    return listed.count(None) + len(properties)


def _grouping_levels(terms: int) -> int:
    """The levels of parenthesised groups `_balanced` sends a chain of `terms` conditions in."""
    levels = 0
    while terms > CHAIN:
        terms, levels = -(-terms // CHAIN), levels + 1
    return levels


def _children(node: ast._Node) -> Iterator[ast._Node]:
    kind = type(node)
    names = _FIELD_NAMES.get(kind)
    if names is None:  # `fields` costs more than a list of thousands of values should
        names = _FIELD_NAMES[kind] = tuple(field.name for field in fields(node))
    for name in names:
        value = getattr(node, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, ast._Node):
                yield item


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


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
        self._properties: dict[str, _Operand] = {}  # by name: a long chain names one property often

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
            known = self._properties.get(prop.name)
            if known is None:
                known = self._properties[prop.name] = _Operand(
                    prop.filter_expression(self.dialect), prop, bare=True
                )
            return known
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
        """A chain `a or b or c …` as one SQL chain (the parser nests it one level per operator), its
        equalities on one property as one `IN` when the operator is `or`."""
        operands = _chain(node)
        if isinstance(node.op, ast.And):
            return _balanced(and_, [self.condition(operand) for operand in operands])
        return _balanced(or_, self._alternatives(operands))

    def _alternatives(self, operands: list[ast._Node]) -> list[ColumnElement[bool]]:
        """The conditions of an `or` chain, the values compared for equality with one property (by
        `eq` or `in`) gathered into one list, where the first of them stood."""
        lists: dict[str, tuple[_Operand, list[ast._Node]]] = {}
        conditions: list[ColumnElement[bool] | str] = []
        for operand in operands:
            listed = _listed(operand)
            if listed is None:
                conditions.append(self.condition(operand))
                continue
            identifier, values = listed
            if identifier.name not in lists:
                lists[identifier.name] = (self.operand(identifier), [])
                conditions.append(identifier.name)
            lists[identifier.name][1].extend(values)
        return [self._in(*lists[c]) if isinstance(c, str) else c for c in conditions]

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
        if isinstance(comparator, ast.In):
            if not isinstance(right, ast.List):
                raise ODataQueryError(
                    "$filter: `in` needs a list, like kind in ('conversion','custom')", "$filter"
                )
            return self._in(operand, right.val)
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
        if isinstance(value, ast.Null):
            if isinstance(comparator, ast.Eq):
                return column.is_(None)
            if isinstance(comparator, ast.NotEq):
                return column.is_not(None)
            return false()  # OData: any other comparison with null is false
        if isinstance(comparator, ast.Eq) and operand.bare and not isinstance(value, ast.List):
            return self._in(operand, [value])  # a one-item list: the same SQL, and the same hint
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

    def _in(self, operand: _Operand, values: Sequence[ast._Node]) -> ColumnElement[bool]:
        """`operand in (values)` as one SQL `IN` (a list does not deepen the expression, and the index
        answers it), or'ed with `IS NULL` when null is listed."""
        present = [value for value in values if not isinstance(value, ast.Null)]
        column: ColumnElement[Any] = operand.expression
        wanted: list[Any]
        if (
            operand.bare
            and operand.prop.storage is Storage.UUID
            and all(isinstance(value, ast.String) for value in present)
        ):
            wanted = [found for found in map(_exact_uuid, present) if found is not None]
            column = operand.prop.column.expression  # the stored UUID, as `_native_id` compares it
        else:
            wanted = [self._coerce(operand, value) for value in present]
        wanted = list(dict.fromkeys(wanted))  # once each: Power BI may repeat a value
        listed: ColumnElement[bool] = column.in_(wanted)
        if self.dialect == "sqlite":
            # Without statistics (the service never runs ANALYZE) SQLite walks the key's index to give
            # the rows in key order and tests every row; told that a list selects few rows, it looks
            # them up in the property's index (contact_id's, the key's) and sorts those instead. Where
            # no index serves the property (currency, kind, goal…) the plan is the same either way;
            # a contact holding a large share of the outcomes is sorted whole (slower, not unbounded).
            listed = func.unlikely(listed)  # untyped: a Boolean would be sent as `unlikely(…) = 1`
        match = self._two_valued(ast.Eq(), listed, column, operand.prop.nullable) if wanted else false()
        return or_(match, operand.expression.is_(None)) if len(present) < len(values) else match

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
        wanted = _exact_uuid(value)
        if wanted is None:
            return false() if equal else true()
        column = operand.prop.column
        return column == wanted if equal else column != wanted

    def _coerce(self, operand: _Operand, value: ast._Node) -> Any:
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


def _exact_uuid(value: ast._Node) -> uuid.UUID | None:
    """The UUID written as the feed shows ids (lowercase, hyphenated), or None: no other text matches."""
    assert isinstance(value, ast.String)
    try:
        wanted = uuid.UUID(value.py_val)
    except ValueError:
        return None
    return wanted if str(wanted) == value.py_val else None


class _Parenthesised(Grouping[bool]):
    """A chain in parentheses that SQLAlchemy keeps: it merges a plain `Grouping` of an `or_` into the
    `or_` around it (a Grouping passes on its content's `operator`), which would undo `_balanced`."""

    operator = None
    inherit_cache = True


def _balanced(
    combine: Callable[..., ColumnElement[bool]], conditions: list[ColumnElement[bool]]
) -> ColumnElement[bool]:
    """`combine(*conditions)`, in parenthesised groups of `CHAIN` when longer: SQLite's parser nests a
    chain one level a term and refuses 1,000 levels. Groups of groups keep both the depth (`CHAIN` a
    level of groups) and the parentheses (whose nesting SQLite also limits) small."""
    while len(conditions) > CHAIN:
        conditions = [
            _Parenthesised(combine(*conditions[start : start + CHAIN]))
            for start in range(0, len(conditions), CHAIN)
        ]
    return combine(*conditions)


def _number(value: int) -> ColumnElement[Any]:
    """A whole number written into the SQL rather than bound: each costs no parameter."""
    return literal_column(str(int(value)), Integer())


def _text_match(name: str, column: ColumnElement[Any], text: str) -> ColumnElement[bool]:
    """A case-sensitive text test written with `substr`, `length` and `replace`, which both backends
    have and treat alike; LIKE would be case-insensitive on SQLite and take `%` and `_` as wildcards."""
    size = len(text)
    if size == 0:
        return true()
    if name == "startswith":
        return func.substr(column, _number(1), _number(size)) == text
    if name == "endswith":
        # A string shorter than the text gives a shorter substring, which cannot equal it.
        return func.substr(column, func.length(column) - _number(size - 1)) == text
    empty = literal_column("''", String())
    return func.length(func.replace(column, text, empty)) < func.length(column)


def _python_value(edm: Edm, value: ast._Literal) -> Any:
    """The literal's value; ValueError when it is not a value of the type (the caller says so)."""
    if edm is Edm.DECIMAL:
        assert isinstance(value, ast.Integer | ast.Float)
        return _decimal(value.val)
    if edm in INTEGER_RANGES:
        assert isinstance(value, ast.Integer)
        whole = int(value.val)
        lowest, highest = INTEGER_RANGES[edm]
        if not lowest <= whole <= highest:
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


def _decimal(text: str) -> Decimal:
    """A decimal literal, which every decimal property compares with, as an amount: PostgreSQL refuses
    one with more than 16,383 decimal places (1e-20000) and any number beyond 131,072 digits."""
    number = Decimal(text)
    kept = kept_amount(number) if number.is_finite() and in_range(number) else None
    if kept is None:
        raise ODataQueryError(
            f"$filter: {text[:40]} is not an amount: amounts lie from {AMOUNT_RANGE}, with at most "
            f"{MAX_DECIMALS} decimal places",
            "$filter",
        )
    return kept


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
