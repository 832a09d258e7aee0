"""Tensors as JSON, for engines in other languages: shape, dtype and the values, either as
nested lists (readable) or as base64 of the little-endian bytes in C order (compact and exact).

    {"shape": [2, 3], "dtype": "float64", "data": [[1.0, 2.0, 3.0], [4.0, 5.0, -0.0]]}
    {"shape": [2, 3], "dtype": "float32", "b64": "AACAPwAAAEA..."}

In lists, nan and the infinities are the strings "nan", "inf" and "-inf" (standard JSON has no
such numbers), and −0 is written -0.0; a reader that loses the sign of zero (JavaScript's
JSON.stringify writes 0) should use base64, where every bit travels. A 0-d tensor has shape []
and its data is one number.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

__all__ = ["ENCODINGS", "decode_tensor", "encode_tensor"]

ENCODINGS = ("list", "base64")
_DTYPES = {"float64": "<f8", "float32": "<f4", "float16": "<f2"}
_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
MAX_ELEMENTS = 10_000_000


def _number(x: float) -> float | str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def encode_tensor(array: np.ndarray, encoding: str = "list") -> dict:
    """`array` as a JSON object, its values as nested lists or base64."""
    a = np.asarray(array)
    dtype = str(a.dtype) if str(a.dtype) in _DTYPES else "float64"
    out: dict[str, Any] = {"shape": list(a.shape), "dtype": dtype}
    if encoding == "base64":
        raw = np.ascontiguousarray(a, dtype=_DTYPES[dtype]).tobytes()
        out["b64"] = base64.b64encode(raw).decode("ascii")
        return out
    flat = [_number(float(x)) for x in a.astype(np.float64).reshape(-1)]
    if a.ndim == 0:
        out["data"] = flat[0]
        return out
    nested: Any = flat
    for n in reversed(a.shape[1:]):
        nested = [nested[i : i + n] for i in range(0, len(nested), n)]
    out["data"] = nested
    return out


def decode_tensor(obj: Any, what: str = "a tensor") -> np.ndarray:
    """The array a JSON object holds, as float64; ValueError (one line) when it is not one."""
    if not isinstance(obj, dict):
        raise ValueError(f"{what} is {type(obj).__name__}, not {{shape, dtype, data or b64}}")
    shape = obj.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ValueError(f"{what}'s shape must be a list of sizes")
    size = math.prod(shape)
    if size > MAX_ELEMENTS:
        raise ValueError(f"{what} has {size:,} elements, over {MAX_ELEMENTS:,}")
    dtype = obj.get("dtype", "float64")
    if dtype not in _DTYPES:
        raise ValueError(f"{what}'s dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    if "b64" in obj:
        try:
            raw = base64.b64decode(str(obj["b64"]), validate=True)
        except (ValueError, TypeError):
            raise ValueError(f"{what}'s b64 is not base64") from None
        width = np.dtype(_DTYPES[dtype]).itemsize
        if len(raw) != size * width:
            raise ValueError(f"{what}'s b64 holds {len(raw)} bytes, not {size} × {width}")
        return np.frombuffer(raw, dtype=_DTYPES[dtype]).astype(np.float64).reshape(shape)
    if "data" not in obj:
        raise ValueError(f"{what} has neither data nor b64")
    flat: list[float] = []
    _flatten(obj["data"], flat, what)
    if len(flat) != size:
        raise ValueError(f"{what} holds {len(flat)} values for shape {shape}")
    return np.array(flat, dtype=np.float64).reshape(shape)


def _flatten(data: Any, out: list[float], what: str, depth: int = 0) -> None:
    if depth > 32:
        raise ValueError(f"{what}'s data is nested too deep")
    if isinstance(data, list):
        for x in data:
            _flatten(x, out, what, depth + 1)
        return
    if isinstance(data, bool) or not isinstance(data, int | float | str):
        raise ValueError(f"{what} holds {type(data).__name__}, not numbers")
    if isinstance(data, str):
        if data not in _SPECIAL:
            raise ValueError(f"{what} holds the text {data[:20]!r}: numbers, or nan, inf, -inf")
        out.append(_SPECIAL[data])
        return
    out.append(float(data))
