"""moto's DynamoDB responses, the same bytes without walking every attribute through the botocore model.

moto 5.2.5 (pinned) writes a DynamoDB response in two steps, both per returned attribute:

* ``DynamoResult`` (moto.dynamodb.responses) turns the result's model objects into plain values
  with ``dynamo_to_dict``: a recursive function that imports ``DynamoType`` and runs an
  ``isinstance``/``hasattr`` chain on every value;
* ``ActionResult.execute_result`` hands them to moto's generic serializer
  (``moto.core.serialize.JSONSerializer``): it walks the operation's output shape and, for each
  member of each structure, asks an attribute picker for the value, which tries up to six alias
  providers (objects built per call) and their ``xform_name`` spellings before giving up. An
  ``AttributeValue`` is a structure of ten members, so each attribute of each returned item costs
  about ten failed look-ups.

For a query returning 50 items of the platform's layout that was ~85% of the request (~80 ms of
~95 ms); GetItem, BatchGetItem, TransactGetItems, Put/Update/DeleteItem with ReturnValues and
cancellation reasons carrying items paid it per attribute too.

Patched here, with the same results:

1. The serializer. moto picks its serializer class by service and protocol
   (``moto.core.serialize.SERVICE_SPECIFIC_SERIALIZERS``, as it does for S3 and SQS); DynamoDB's
   JSON protocol gets a subclass of moto's ``JSONSerializer`` whose ``_serialize`` writes three
   kinds of shape of the DynamoDB model itself and leaves every other shape (the response's
   skeleton: member order, counts, ConsumedCapacity, ItemCollectionMetrics...) to moto:
   ``AttributeValue``; maps of attribute name -> ``AttributeValue`` (``AttributeMap``: Item,
   Attributes; ``Key``: LastEvaluatedKey...); lists of such maps (``ItemList``: Items...). For
   these it builds the value moto's walk builds: ``S``/``N`` strings and ``SS``/``NS`` string lists
   as they are, ``B``/``BS`` through moto's own ``_base64``, ``NULL``/``BOOL`` booleans as they are,
   ``M`` and ``L`` recursively, in the same order, under the same names (none of these shapes has a
   serialization name of its own: checked when installing, with the ten members and their types;
   if the model differs, nothing is installed). It takes only the values moto produces from
   DynamoDB JSON: a dict with exactly one known type key whose value has the exact type moto
   gives it (``str``, ``bytes``, ``bool``, ``list``, ``dict``), map keys that are non-empty
   strings. Anything else (a ``None``, an empty map key, which moto's walk merges into the parent
   map, an unknown type key) sends the whole node through moto's code, which walks it as before.
   moto then writes the body (``json.dumps``), the status and the headers (its CRC32 included).
2. ``dynamo_to_dict``, as ``DynamoResult`` sees it: the same recursion on ``DynamoType``, plain
   dicts, lists, strings, numbers, booleans and None; anything else (binary values, datetimes,
   models, subclasses) goes to moto's function.

Errors are not concerned: moto's DynamoDB errors are ``JsonRESTError`` bodies, not serialized.
Checked by a randomized differential comparison of the raw HTTP responses (status, headers but
the request id and date, body bytes) of the moto server with and without this patch: GetItem,
BatchGetItem, Query and Scan (indexes, projections, filters, pages), Put/Update/DeleteItem with
ReturnValues, TransactGetItems, TransactWriteItems (cancellation reasons with ALL_OLD items), on
items holding every type; tests/test_local_moto.py compares both serializers directly.

50-item index query ~96 ms -> ~17 ms, GetItem ~4.6 ms -> ~3.0 ms (10,000 items, moto server).

Touches moto internals: moto's version is pinned. Installed by ``dynamodb_speed.speed_up_dynamodb``.
"""

from __future__ import annotations

import warnings

_AV = "AttributeValue"
_MEMBERS = {"S": "string", "N": "string", "B": "blob", "SS": "list", "NS": "list", "BS": "list",
            "M": "map", "L": "list", "NULL": "boolean", "BOOL": "boolean"}


class _Generic(Exception):  # noqa: N818 - control flow: this node takes moto's generic path
    pass


def fast_dynamodb_responses() -> None:
    from moto.core import serialize
    from moto.core.utils import get_service_model

    current = serialize.SERVICE_SPECIFIC_SERIALIZERS.get("dynamodb", {}).get("json")
    if current is not None and getattr(current, "_orchestre_fast", False):
        return
    kinds = _kinds(get_service_model("dynamodb"))
    if kinds is None:
        warnings.warn("moto's DynamoDB model is not the expected one: responses serialized by moto",
                      RuntimeWarning, stacklevel=2)
        return
    import moto.dynamodb.responses as responses
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict

    serialize.SERVICE_SPECIFIC_SERIALIZERS.setdefault("dynamodb", {})["json"] = _serializer_class(
        serialize.SERIALIZERS["json"], kinds)
    item_attrs = dict if hasattr(LimitedSizeDict, "to_json") else LimitedSizeDict  # moto: to_json comes first
    responses.dynamo_to_dict = _to_dict_function(responses.dynamo_to_dict, DynamoType, item_attrs)


def _to_dict_function(original, dynamo_type, item_attrs):
    """moto's ``dynamo_to_dict`` (DynamoResult's conversion of the model objects to plain values),
    its common cases without its per-value import and ``isinstance``/``hasattr`` chain.
    ``item_attrs`` is moto's dict of an item's attributes (a dict subclass without ``to_json``:
    moto's function takes it as a dict)."""

    def dynamo_to_dict(obj):
        t = type(obj)
        if t is dynamo_type:
            vt = obj.type
            if vt != "B" and vt != "BS":
                return {vt: dynamo_to_dict(obj.value)}
        elif t is dict or t is item_attrs:
            return {k: dynamo_to_dict(v) for k, v in obj.items()}
        elif t is list:
            return [dynamo_to_dict(v) for v in obj]
        elif t is str or t is int or t is float or t is bool or obj is None:
            return obj
        return original(obj)  # binary values, datetimes, models, subclasses: moto's code

    dynamo_to_dict._orchestre_fast = True
    return dynamo_to_dict


def _kinds(model) -> dict[str, str] | None:
    """Shape name -> "value" | "map" | "list" for the shapes handled here; None if the model differs."""
    try:
        av = model.shape_for(_AV)
        members = {name: shape.type_name for name, shape in av.members.items()}
        plain = [av, *av.members.values(), av.members["SS"].member, av.members["NS"].member,
                 av.members["BS"].member, av.members["M"].key, av.members["M"].value, av.members["L"].member]
        ok = (av.type_name == "structure" and members == _MEMBERS and not av.is_document_type
              and av.members["SS"].member.type_name == "string" and av.members["NS"].member.type_name == "string"
              and av.members["BS"].member.type_name == "blob" and av.members["M"].key.type_name == "string"
              and av.members["M"].value.name == _AV and av.members["L"].member.name == _AV)
        kinds = {_AV: "value"}
        for name in model.shape_names:
            shape = model.shape_for(name)
            if shape.type_name == "map" and shape.value.name == _AV:
                ok = ok and shape.key.type_name == "string"
                plain += [shape, shape.key, shape.value]
                kinds[name] = "map"
        for name in model.shape_names:
            shape = model.shape_for(name)
            if shape.type_name == "list" and kinds.get(shape.member.name) == "map":
                plain += [shape, shape.member]
                kinds[name] = "list"
        ok = ok and not any(s.serialization.get("name") for s in plain)
    except (AttributeError, KeyError, LookupError):
        return None
    return kinds if ok else None


def _serializer_class(base, kinds):
    class DynamoDBJSONSerializer(base):
        _orchestre_fast = True

        def _serialize(self, serialized, value, shape, key):
            kind = kinds.get(shape.name)
            if kind is not None:
                try:
                    if kind == "value":
                        if not key:  # moto merges the members into the parent: its path
                            raise _Generic
                        result = self._orchestre_value(value)
                    elif kind == "map":
                        result = self._orchestre_map(value)
                    else:
                        if type(value) is not list:
                            raise _Generic
                        result = [self._orchestre_map(v) for v in value]
                except _Generic:
                    pass
                else:
                    serialized[key] = result  # the serialized names are the keys (checked in _kinds)
                    return
            super()._serialize(serialized, value, shape, key)

        def _orchestre_map(self, value):
            if type(value) is not dict:
                raise _Generic
            value_of = self._orchestre_value
            result = {}
            for name, v in value.items():
                if type(name) is not str or not name:
                    raise _Generic
                result[name] = value_of(v)
            return result

        def _orchestre_value(self, value):
            if type(value) is not dict or len(value) != 1:
                raise _Generic
            ((t, x),) = value.items()
            tx = type(x)
            if t == "S" or t == "N":
                if tx is str:
                    return {t: x}
            elif t == "M":
                if tx is dict:
                    return {t: self._orchestre_map(x)}
            elif t == "L":
                if tx is list:
                    value_of = self._orchestre_value
                    return {t: [value_of(v) for v in x]}
            elif t == "NULL" or t == "BOOL":
                if tx is bool:
                    return {t: x}
            elif t == "SS" or t == "NS":
                if tx is list and all(type(v) is str for v in x):
                    return {t: list(x)}
            elif t == "B":
                if tx is bytes or tx is str:
                    return {t: self._base64(x)}
            elif t == "BS":
                if tx is list and all(type(v) is bytes or type(v) is str for v in x):
                    b64 = self._base64
                    return {t: [b64(v) for v in x]}
            raise _Generic

    return DynamoDBJSONSerializer
