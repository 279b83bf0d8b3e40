"""Records held by the host (action ``records:read``). Withheld records and fields are counted.

Example::

    from cordon_guest import records

    result = records.query("tickets", [("status", "==", "open"), ("team", "in", ["a", "b"])],
                           ["title", "priority"], limit=20)
    for row in result["rows"]:
        print(row["id"], row["fields"]["title"])
"""

from wit_world.imports import records as _records

from ._errors import Invalid, call

_OPS = {
    "==": _records.CompareOp.EQ,
    "!=": _records.CompareOp.NE,
    "<": _records.CompareOp.LT,
    "<=": _records.CompareOp.LE,
    ">": _records.CompareOp.GT,
    ">=": _records.CompareOp.GE,
}


def _to_value(value):
    if value is None:
        return _records.Value_Null()
    if isinstance(value, bool):
        return _records.Value_Boolean(value)
    if isinstance(value, int):
        return _records.Value_Integer(value)
    if isinstance(value, float):
        return _records.Value_Float(value)
    if isinstance(value, str):
        return _records.Value_Text(value)
    raise Invalid(f"cannot use a {type(value).__name__} as a field value")


def _from_value(value):
    return None if isinstance(value, _records.Value_Null) else value.value


def _condition(cond):
    field, op, value = cond
    if op == "in":
        return _records.Condition_OneOf(
            _records.Membership(field, [_to_value(v) for v in value])
        )
    if op not in _OPS:
        raise Invalid(f"unknown operator `{op}`")
    return _records.Condition_Compare(_records.Comparison(field, _OPS[op], _to_value(value)))


def _result(result) -> dict:
    return {
        "rows": [
            {"id": row.id, "fields": {f.name: _from_value(f.value) for f in row.fields}}
            for row in result.rows
        ],
        "withheld_records": result.withheld_records,
        "withheld_fields": list(result.withheld_fields),
        "truncated": result.truncated,
    }


def query(collection: str, filter, fields, limit: int = 100) -> dict:
    """Records of ``collection`` meeting every ``(field, op, value)`` condition of ``filter``
    (``op`` one of ``== != < <= > >= in``), with the named ``fields``.

    Example: ``records.query("orders", [("total", ">", 100)], ["customer"], 10)``.
    """
    return _result(call(_records.query, collection, [_condition(c) for c in filter], list(fields), limit))


def get(collection: str, id: str, fields) -> dict:
    """One record by id, in the same shape as :func:`query`.

    Example: ``records.get("orders", "o-42", ["status"])["rows"]``.
    """
    return _result(call(_records.get, collection, id, list(fields)))
