"""The feed's `$metadata`: a CSDL XML document (OData 4.0) of the entity types and sets, namespace `Comerix`.

The JSON-text properties are declared non-filterable and non-sortable with the Capabilities vocabulary,
so clients that read it (Power BI does) do not fold filters on them.
"""

from __future__ import annotations

from functools import cache
from xml.etree import ElementTree as ET

from comerix.analytics.odata.entities import ENTITY_SETS, NAMESPACE, Edm, EntitySet, Property

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
CAPABILITIES = "Org.OData.Capabilities.V1"
CAPABILITIES_URI = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml"
CONTAINER = "Container"
MEDIA_TYPE = "application/xml"


@cache
def document() -> bytes:
    """The CSDL document, built once: it is the same for every workspace."""
    # Prefixed names and xmlns attributes are written as they are, so the document uses the customary
    # `edmx:` prefix and a default EDM namespace without touching ElementTree's global prefix registry.
    root = ET.Element("edmx:Edmx", {"xmlns:edmx": EDMX, "Version": "4.0"})
    reference = ET.SubElement(root, "edmx:Reference", {"Uri": CAPABILITIES_URI})
    ET.SubElement(reference, "edmx:Include", {"Namespace": CAPABILITIES, "Alias": "Capabilities"})
    services = ET.SubElement(root, "edmx:DataServices")
    schema = ET.SubElement(services, "Schema", {"xmlns": EDM, "Namespace": NAMESPACE})
    for entity_set in ENTITY_SETS:
        _entity_type(schema, entity_set)
    container = ET.SubElement(schema, "EntityContainer", {"Name": CONTAINER})
    for entity_set in ENTITY_SETS:
        attributes = {"Name": entity_set.name, "EntityType": entity_set.qualified_type}
        ET.SubElement(container, "EntitySet", attributes)
    for entity_set in ENTITY_SETS:
        _restrictions(schema, entity_set)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _entity_type(schema: ET.Element, entity_set: EntitySet) -> None:
    entity_type = ET.SubElement(schema, "EntityType", {"Name": entity_set.type_name})
    key = ET.SubElement(entity_type, "Key")
    ET.SubElement(key, "PropertyRef", {"Name": entity_set.key.name})
    for prop in entity_set.properties:
        ET.SubElement(entity_type, "Property", _facets(prop))


def _facets(prop: Property) -> dict[str, str]:
    facets = {"Name": prop.name, "Type": prop.edm.value, "Nullable": "true" if prop.nullable else "false"}
    if prop.max_length is not None:
        facets["MaxLength"] = str(prop.max_length)
    if prop.edm is Edm.DECIMAL:
        facets["Scale"] = "variable"
    if prop.edm is Edm.DATE_TIME_OFFSET:
        facets["Precision"] = "6"
    return facets


def _restrictions(schema: ET.Element, entity_set: EntitySet) -> None:
    """`FilterRestrictions` and `SortRestrictions` naming the properties that cannot be queried."""
    closed = [prop.name for prop in entity_set.properties if not prop.queryable]
    if not closed:
        return
    target = f"{NAMESPACE}.{CONTAINER}/{entity_set.name}"
    annotations = ET.SubElement(schema, "Annotations", {"Target": target})
    for term, member in (
        ("FilterRestrictions", "NonFilterableProperties"),
        ("SortRestrictions", "NonSortableProperties"),
    ):
        annotation = ET.SubElement(annotations, "Annotation", {"Term": f"{CAPABILITIES}.{term}"})
        record = ET.SubElement(annotation, "Record")
        value = ET.SubElement(record, "PropertyValue", {"Property": member})
        collection = ET.SubElement(value, "Collection")
        for name in closed:
            ET.SubElement(collection, "PropertyPath").text = name
