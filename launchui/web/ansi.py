"""Console text with ANSI colours as HTML: SGR sequences (ESC [ … m) become <span> classes of app.css,
everything else is escaped; other escape sequences are dropped. No style attributes (the CSP forbids them)."""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# CSI sequences (ESC [ params final) and OSC sequences (ESC ] … BEL or ESC \), and lone ESC + one char.
_ESCAPES = re.compile(r"\x1b\[([0-9;:?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _apply(codes: list[int], state: dict) -> None:
    """Update the current style with one SGR parameter list (256-colour and RGB colours are skipped)."""
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            state.clear()
        elif code in (1, 2, 3, 4):
            state[{1: "bold", 2: "dim", 3: "italic", 4: "underline"}[code]] = True
        elif code == 22:
            state.pop("bold", None)
            state.pop("dim", None)
        elif code == 23:
            state.pop("italic", None)
        elif code == 24:
            state.pop("underline", None)
        elif 30 <= code <= 37 or 90 <= code <= 97:
            state["fg"] = code
        elif code == 39:
            state.pop("fg", None)
        elif 40 <= code <= 47 or 100 <= code <= 107:
            state["bg"] = code
        elif code == 49:
            state.pop("bg", None)
        elif code in (38, 48):  # 5;n or 2;r;g;b: skip the colour's arguments
            i += 2 if i + 1 < len(codes) and codes[i + 1] == 5 else 4
        i += 1


def _classes(state: dict) -> str:
    names = [f"ansi-{flag}" for flag in ("bold", "dim", "italic", "underline") if state.get(flag)]
    if "fg" in state:
        names.append(f"ansi-fg-{state['fg']}")
    if "bg" in state:
        names.append(f"ansi-bg-{state['bg']}")
    return " ".join(names)


def to_html(text: str) -> SafeString:
    """One console line as safe HTML. A carriage return (a progress bar redrawing itself) keeps what was
    drawn last, as a terminal would show it."""
    if "\r" in text:
        text = text.rstrip("\r").rsplit("\r", 1)[-1]
    out: list[str] = []
    state: dict = {}
    position = 0

    def emit(chunk: str) -> None:
        chunk = _CONTROL.sub("", chunk)
        if not chunk:
            return
        classes = _classes(state)
        out.append(f'<span class="{classes}">{escape(chunk)}</span>' if classes else escape(chunk))

    for match in _ESCAPES.finditer(text):
        emit(text[position : match.start()])
        position = match.end()
        if match.group(2) == "m":
            params = match.group(1).replace(":", ";")
            codes = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else [0]
            _apply(codes, state)
    emit(text[position:])
    return mark_safe("".join(out))  # every piece of text above went through escape()


def strip(text: str) -> str:
    """The line as plain text, without escape sequences."""
    return _CONTROL.sub("", _ESCAPES.sub("", text))
