"""The documentation stays true: the README's Python example runs as written, and every
relative link of README.md and docs/*.md points to a file of the repository (and, into a
Markdown file, to one of its headings)."""

import os
import re
import traceback
import unicodedata

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, 'README.md'),
        *sorted(os.path.join(ROOT, 'docs', f) for f in os.listdir(os.path.join(ROOT, 'docs'))
                if f.endswith('.md'))]

FENCE = re.compile(r'^```python[ \t]*\n(.*?)^```[ \t]*$', re.S | re.M)
LINK = re.compile(r'(?<!!)\[[^\]]*\]\(([^()\s]+)(?:\s+"[^"]*")?\)')
CODE = re.compile(r'^```.*?^```[ \t]*$|`[^`\n]*`', re.S | re.M)
HEADING = re.compile(r'^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$', re.M)


def _read(path):
  with open(path, encoding='utf-8') as f:
    return f.read()


def python_blocks(path):
  """(line number, source) of every ```python block of a Markdown file."""
  text = _read(path)
  return [(text.count('\n', 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


def slug(heading):
  """GitHub's anchor for a heading: lower case, markup and punctuation dropped (but
  hyphens and underscores), spaces turned into hyphens."""
  text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)   # a link: keep its text
  text = ''.join(c for c in text.lower()
                 if c in ' -_' or unicodedata.category(c)[0] in 'LN')
  return text.replace(' ', '-')


def anchors(path):
  """The anchors of a Markdown file's headings (repeats get -1, -2, ... as on GitHub)."""
  found, seen = set(), {}
  for heading in HEADING.findall(CODE.sub('', _read(path))):
    base = slug(heading)
    n = seen.get(base, 0)
    seen[base] = n + 1
    found.add(base if n == 0 else f'{base}-{n}')
  return found


def links(path):
  """Every link target of a Markdown file outside code."""
  return LINK.findall(CODE.sub('', _read(path)))


def test_readme_has_a_python_example():
  assert python_blocks(DOCS[0]), 'README.md has no ```python block to run.'


@pytest.mark.parametrize('line,source', python_blocks(DOCS[0]),
                         ids=lambda v: f'README.md:{v}' if isinstance(v, int) else '')
def test_readme_python_block_runs(line, source):
  try:
    exec(compile(source, f'README.md, the ```python block at line {line}', 'exec'),
         {'__name__': '__readme__'})
  except Exception:  # noqa: BLE001  (any failure of the example is the finding)
    pytest.fail(f'The ```python block at line {line} of README.md raised:\n'
                f'{traceback.format_exc()}', pytrace=False)


@pytest.mark.parametrize('path', DOCS, ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_resolve(path):
  broken = []
  for target in links(path):
    if re.match(r'[a-z][a-z0-9+.-]*:', target, re.I):   # http:, https:, mailto:, ...
      continue
    file, _, anchor = target.partition('#')
    resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
    if not os.path.exists(resolved):
      broken.append(f'{target} (no file {os.path.relpath(resolved, ROOT)})')
    elif not os.path.realpath(resolved).startswith(os.path.realpath(ROOT) + os.sep):
      broken.append(f'{target} (outside the repository)')
    elif anchor and resolved.endswith('.md') and anchor not in anchors(resolved):
      broken.append(f'{target} (no heading #{anchor} in {os.path.relpath(resolved, ROOT)})')
  assert not broken, f'{os.path.relpath(path, ROOT)}: broken links: ' + '; '.join(broken)
