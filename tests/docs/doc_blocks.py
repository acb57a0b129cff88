"""Code blocks of README.md, CONTRIBUTING.md and docs/*.md: fenced (```lang) and indented (4 spaces after a blank line)."""
import dataclasses
import pathlib
import re

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC_FILES = ("README.md", "CONTRIBUTING.md", *sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "docs").glob("*.md")))

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    doc: str  # repo-relative path of the markdown file
    line: int  # 1-based line of the block's first code line
    lang: str  # fence language ("" for none, "indented" for 4-space blocks)
    text: str

    @property
    def key(self):
        """`<doc>: <first non-empty line>`: stable while the block's first command stays the same."""
        first = next((l.strip() for l in self.text.splitlines() if l.strip()), "")
        return f"{self.doc}: {first}"


def blocks(doc):
    lines = (REPO_ROOT / doc).read_text().splitlines()
    out = []
    i = 0
    prev_blank = True
    in_list = False
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m:
            indent, lang = m.group(1), m.group(2)
            j = i + 1
            while j < len(lines) and not _FENCE.match(lines[j]):
                j += 1
            body = [l[len(indent):] if l.startswith(indent) else l for l in lines[i + 1 : j]]
            out.append(Block(doc, i + 2, lang, "\n".join(body) + "\n"))
            i = j + 1
            prev_blank = False
            continue
        if line.startswith("    ") and prev_blank and not in_list and line.strip():
            j = i
            body = []
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                body.append(lines[j][4:])
                j += 1
            while body and not body[-1].strip():
                body.pop()
            out.append(Block(doc, i + 1, "indented", "\n".join(body) + "\n"))
            i = j
            prev_blank = True
            continue
        stripped = line.strip()
        if re.match(r"^([-*+]|\d+\.)\s", stripped):
            in_list = True
        elif not stripped:
            pass
        elif not line.startswith(" "):
            in_list = False
        prev_blank = not stripped
        i += 1
    return out


def all_blocks():
    return [b for doc in DOC_FILES for b in blocks(doc)]
