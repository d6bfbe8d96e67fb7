"""JSON fields that keep NaN and ±Infinity.

ML configs hold them (`wandb.init(config={"lr": float("nan")})`), the wandb client sends them as the JSON
literals NaN/Infinity/-Infinity, and PostgreSQL's jsonb refuses them. These fields store each one as a
one-key object {"$float": "NaN"} and read it back as the float, so a config round-trips as it was sent.
"""

import json
import math
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

TAG = "$float"
NON_FINITE = ("NaN", "Infinity", "-Infinity")


def _tagged(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {TAG: "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        return {k: _tagged(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tagged(v) for v in value]
    return value


def _untagged(obj: dict) -> Any:
    if len(obj) == 1 and obj.get(TAG) in NON_FINITE:
        return float(obj[TAG])
    return obj


class NonFiniteEncoder(DjangoJSONEncoder):
    def iterencode(self, o, _one_shot=False):
        return super().iterencode(_tagged(o), _one_shot)


class NonFiniteDecoder(json.JSONDecoder):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("object_hook", _untagged)
        super().__init__(*args, **kwargs)


def json_field_options() -> dict:
    """The encoder and decoder for a models.JSONField whose values may hold NaN or ±Infinity."""
    return {"encoder": NonFiniteEncoder, "decoder": NonFiniteDecoder}
