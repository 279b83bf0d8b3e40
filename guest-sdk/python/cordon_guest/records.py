"""Records held by the host (actions ``records:read`` and ``records:read-field``).

Each record is decided as ``Cordon::Record::"<collection>/<id>"`` (``in``
``Cordon::Collection::"<collection>"``) and each requested field as
``Cordon::Field::"<collection>/<name>"``. A record the policy withholds takes no part in the read
(it is not counted: ``withheld_records`` is always 0); a requested field it withholds is left
out of every row and named in ``withheld_fields``. A filter on a withheld field refuses the whole
read with :class:`~cordon_guest.AccessDenied` (resource ``Cordon::Collection::"<collection>"``,
no policy ids).

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
    """Records of ``collection`` meeting every condition of ``filter``, with the named ``fields``.

    Args:
        collection: the collection's name.
        filter: a list of ``(field, op, value)`` triples that must all hold; ``op`` is one of
            ``== != < <= > >=`` with a value, or ``in`` with a list of values. Values are
            ``None``, ``bool``, ``int``, ``float`` or ``str``.
        fields: the names of the fields each row should carry.
        limit: at most this many rows (the purpose's row cap may be lower).

    Returns:
        ``{"rows": [{"id": str, "fields": {name: value}}], "withheld_records": 0,
        "withheld_fields": [str], "truncated": bool}``; ``truncated`` is true when more
        visible records met the filter than were returned.

    Raises:
        AccessDenied: the filter tests a field the policy withholds.
        NotFound: there is no such collection.
        Invalid: an unknown field or operator, or a value of another type.
        Unsupported: this host has no records store.
        IoError: the store failed.

    Example::

        result = records.query("orders", [("total", ">", 100), ("region", "in", ["eu", "uk"])],
                               ["customer", "total"], limit=10)
        for row in result["rows"]:
            print(row["id"], row["fields"]["customer"])
    """
    return _result(call(_records.query, collection, [_condition(c) for c in filter], list(fields), limit))


def get(collection: str, id: str, fields) -> dict:
    """One record by id, in the same shape as :func:`query`.

    A record that does not exist and one the policy withholds give the same answer: no row.

    Args:
        collection: the collection's name.
        id: the record's id (trimmed and put in Unicode NFC, as at import).
        fields: the names of the fields the row should carry.

    Returns:
        The dict :func:`query` returns, with at most one row.

    Raises:
        NotFound: there is no such collection.
        Invalid: an unknown field.
        Unsupported: this host has no records store.
        IoError: the store failed.

    Example::

        rows = records.get("orders", "o-42", ["status"])["rows"]
        status = rows[0]["fields"]["status"] if rows else None
    """
    return _result(call(_records.get, collection, id, list(fields)))
