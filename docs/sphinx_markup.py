r"""The Sphinx markup of minnet's docstrings, as the Markdown the site renders.

The docstrings are numpydoc, written to read well in ``help()``: they name
other objects with roles (``:class:`~minnet.Graph```, ``:func:`save```) and
write formulas as ``:math:`\sigma``` and ``.. math::`` blocks. This griffe
extension (loaded by mkdocstrings, see mkdocs.yml) rewrites them for the site
only, leaving the source as it is:

- a role becomes a cross-reference, ``[`Graph`][minnet.Graph]``, so the name
  links to its entry in the API reference; a relative name is resolved where
  the docstring sits, as Sphinx does. A name that leads nowhere fails
  ``mkdocs build --strict``, so a renamed or removed object cannot leave a
  dead reference behind;
- ``:math:`x``` becomes ``$x$`` and a ``.. math::`` block a ``$$`` block
  (in an ``aligned`` environment when it aligns on ``&``), which
  pymdownx.arithmatex hands to MathJax;
- a simple table (columns under ``=====  =====`` rules) becomes a Markdown
  table, and a paragraph ending in ``::`` ends in ``:`` before its literal
  block, as Sphinx shows it.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:func|class|meth|attr|mod|exc|data|obj):`([^`]+)`")
INLINE_MATH = re.compile(r":math:`([^`]+)`")
MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")
TABLE_RULE = re.compile(r"^[ \t]*=+(?: +=+)+[ \t]*$")
LITERAL_INTRO = re.compile(r"(?<=\S)::$", re.M)


def indentation(line: str) -> int:
    return len(line) - len(line.lstrip())


def math_blocks(text: str) -> str:
    """Each ``.. math::`` directive (with its indented body) as a ``$$`` block at the directive's indent."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        match = MATH_DIRECTIVE.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent = match["indent"]
        body = [match["first"].strip()]
        i += 1
        while i < len(lines) and (not lines[i].strip() or indentation(lines[i]) > len(indent)):
            body.append(lines[i].strip())
            i += 1
        blank_after = 0
        while body and not body[-1]:
            body.pop()
            blank_after += 1
        body = [line for line in body if line]  # a blank line would end the Markdown block
        if "&" in "".join(body):
            body = [r"\begin{aligned}", *body, r"\end{aligned}"]
        if out and out[-1].strip():
            out.append("")
        out += [indent + line for line in ["$$", *body, "$$"]]
        out += [""] * max(blank_after, 1 if i < len(lines) else 0)
    return "\n".join(out)


def simple_tables(text: str) -> str:
    """Each simple table (two rules around the rows, or three with a header) as a Markdown table."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if not TABLE_RULE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        rule = lines[i]
        starts = [m.start() for m in re.finditer(r"=+", rule)]
        indent = rule[: starts[0]]
        sections, rows = [], []
        i += 1
        while i < len(lines):
            if TABLE_RULE.match(lines[i]):
                sections.append(rows)
                rows = []
                i += 1
                if i == len(lines) or not lines[i].strip():
                    break
                continue
            cells = [lines[i][a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
            if rows and not cells[0]:  # a row's continuation lines leave the first column empty
                rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
            else:
                rows.append(cells)
            i += 1
        if rows or not sections:  # a table left open at the end of the docstring
            sections.append(rows)
        header, body = (sections[0], sections[1]) if len(sections) > 1 else ([[""] * len(starts)], sections[0])
        for row in [*header, ["---"] * len(starts), *body]:
            out.append(indent + "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(out)


def reference(role_text: str, resolve) -> str:
    """``[`shown`][identifier]`` for the text of a role: ``~a.b`` shows ``b``, ``Title <a.b>`` shows Title."""
    title = None
    explicit = re.fullmatch(r"(.*?)\s*<([^<>]+)>", role_text)
    if explicit:
        title, role_text = explicit.group(1), explicit.group(2)
    short = role_text.startswith("~")
    target = role_text.lstrip("~")
    if title is None:
        title = target.rsplit(".", 1)[-1] if short else target
    return f"[`{title}`][{resolve(target)}]"


def resolver(obj: griffe.Object, collection: griffe.ModulesCollection):
    """``resolve(name)``: where ``name``, seen from ``obj``'s docstring, is documented.

    A relative name is looked up in the scopes around ``obj``; a re-exported
    path (``minnet.Layer.get_state``) becomes the path of its definition
    (``minnet.layers.base.Layer.get_state``), the one the reference has an entry for.
    """

    def resolve(name: str) -> str:
        path = name
        if name.split(".")[0] != obj.path.split(".")[0]:
            head, dot, rest = name.partition(".")
            try:
                path = obj.resolve(head) + dot + rest
            except griffe.NameResolutionError:
                return name  # left for the strict build to report
        try:
            return collection[path].canonical_path
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return path

    return resolve


def to_markdown(text: str, resolve) -> str:
    text = math_blocks(simple_tables(text))
    text = LITERAL_INTRO.sub(":", text)
    text = INLINE_MATH.sub(lambda m: f"${m.group(1)}$", text)
    return ROLE.sub(lambda m: reference(m.group(1), resolve), text)


class SphinxMarkup(griffe.Extension):
    """Rewrite every docstring of the loaded package once its object tree is complete."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs) -> None:
        if obj.is_alias or obj.docstring is None:
            return
        obj.docstring.value = to_markdown(obj.docstring.value, resolver(obj, loader.modules_collection))
