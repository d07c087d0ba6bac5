"""The UI's JavaScript modules, unit-tested in the browser they run in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tokenwire.config import Settings
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def modules(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One page on a gateway without routes: the modules only need the UI's origin."""
    data_dir = str(tmp_path_factory.mktemp("data"))
    with BackgroundServer(create_app([], Settings(data_dir=data_dir))) as server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}/ui/console.html")
        yield page
        context.close()


def render(page: Page, markdown: str) -> str:
    html: str = page.evaluate(
        "async (text) => (await import('/ui/js/markdown.js')).renderMarkdown(text)", markdown
    )
    return html


LINK = 'target="_blank" rel="noopener noreferrer nofollow"'
CASES = [
    ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ('<img src=x onerror="alert(1)">', "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</p>"),
    ("**bold**, *it*, _it_", "<p><strong>bold</strong>, <em>it</em>, <em>it</em></p>"),
    ("`<b>` stays **text**", "<p><code>&lt;b&gt;</code> stays <strong>text</strong></p>"),
    (
        "```js\nlet a = '<b>';\n```",
        '<pre><code data-lang="js">let a = &#39;&lt;b&gt;&#39;;</code></pre>',
    ),
    ("```\nunclosed while streaming", "<pre><code>unclosed while streaming</code></pre>"),
    ("- one\n- **two**", "<ul><li>one</li><li><strong>two</strong></li></ul>"),
    ("1. first\n2) second", "<ol><li>first</li><li>second</li></ol>"),
    ("# Title", "<h3>Title</h3>"),
    (
        "[docs](https://example.com/a_b_c?x=1&y=2)",
        f'<p><a href="https://example.com/a_b_c?x=1&amp;y=2" {LINK}>docs</a></p>',
    ),
    ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
    ('[x](https://a.b/" onclick="f())', "<p>[x](https://a.b/&quot; onclick=&quot;f())</p>"),
    ("a\u0000b", "<p>ab</p>"),
    ("line one\nline two", "<p>line one<br>line two</p>"),
]


@pytest.mark.parametrize(("markdown", "html"), CASES)
def test_markdown_is_escaped_before_it_is_formatted(
    modules: Page, markdown: str, html: str
) -> None:
    assert render(modules, markdown) == html


STREAM = (
    "retry: 1000\r\n\r\n"
    ": ping\n\n"
    'id: 1\nevent: run.start\ndata: {"run_id":"r1"}\n\n'
    'id: 2\revent: token\rdata: {"text":"h\\u00e9"}\r\r'
    "id: 3\r\nevent: token\r\ndata: line one\r\ndata: line two\r\n\r\n"
    "data:no-space\n\n"
    "event: ignored-without-data\n\n"
)
EXPECTED = [
    {"id": "1", "event": "run.start", "data": '{"run_id":"r1"}'},
    {"id": "2", "event": "token", "data": '{"text":"h\\u00e9"}'},
    {"id": "3", "event": "token", "data": "line one\nline two"},
    {"id": "3", "event": "message", "data": "no-space"},
]


def test_sse_parser_gives_the_same_events_however_the_stream_is_split(modules: Page) -> None:
    results: list[Any] = modules.evaluate(
        """async (stream) => {
          const { SseParser } = await import('/ui/js/sse.js');
          const results = [];
          for (let size = 1; size <= stream.length; size++) {
            const parser = new SseParser();
            const events = [];
            for (let i = 0; i < stream.length; i += size) {
              events.push(...parser.feed(stream.slice(i, i + size)));
            }
            results.push({ size, events, retry: parser.retry });
          }
          return results;
        }""",
        STREAM,
    )
    assert len(results) == len(STREAM)
    for result in results:
        assert result["events"] == EXPECTED, result["size"]
        assert result["retry"] == 1000


def test_the_answer_shows_custom_events_as_steps_and_nodes_as_its_state(modules: Page) -> None:
    shown: dict[str, Any] = modules.evaluate(
        """async () => {
          const { AssistantMessage } = await import('/ui/js/message.js');
          const box = document.createElement('div');
          const message = new AssistantMessage(box, { route: 'graph' });
          message.apply({ type: 'run.start', data: { run_id: 'r1', model: 'm' } });
          message.apply({ type: 'node.start', data: { name: 'answer', step: 1 } });
          const state = message.state.textContent;
          const weather = { name: 'weather', data: { html: '<img src=x>' } };
          message.apply({ type: 'custom', data: weather });
          message.apply({ type: 'custom', data: { data: null, error: 'not JSON' } });
          const steps = [...box.querySelectorAll('.timeline .step.custom')].map((li) => [
            li.querySelector('.tool-name').textContent, li.querySelector('pre').textContent,
          ]);
          return { state, steps, images: box.querySelectorAll('img').length };
        }"""
    )
    assert shown == {
        "state": "running answer…",
        "steps": [["weather", '{"html":"<img src=x>"}'], ["custom", "not JSON"]],
        "images": 0,
    }


APPROVAL_CARD = """async () => {
  const { ApprovalCard, plainInterrupts } = await import('/ui/js/approvals.js');
  const box = document.createElement('div');
  const sent = [];
  const calls = [
    {call_id: 'i:0', interrupt_id: 'i', name: 'a', args: {x: 1}, allowed_decisions: ['edit']},
    {call_id: 'i:1', interrupt_id: 'i', name: 'b', args: {}, allowed_decisions: ['respond']},
  ];
  const card = new ApprovalCard(box, calls, async (d) => { sent.push(d); return true; });
  const submit = box.querySelector('.submit-decisions');
  const out = {disabledAtFirst: submit.disabled};
  box.querySelector('[data-decision=edit]').click();
  out.disabledWithOne = submit.disabled;
  box.querySelector('[data-decision=respond]').click();
  box.querySelector('.edit-args').value = '{not json';
  submit.click();
  await new Promise((r) => setTimeout(r, 0));
  out.badJson = box.querySelector('.notice.error').textContent;
  box.querySelector('.edit-args').value = '{"x": 2}';
  submit.click();
  await new Promise((r) => setTimeout(r, 0));
  out.noMessage = box.querySelector('.notice.error').textContent;
  box.querySelector('[data-call-id="i:1"] .decision-message').value = ' done ';
  submit.click();
  await new Promise((r) => setTimeout(r, 0));
  out.sent = sent;
  out.plain = plainInterrupts([{interrupt_id: 'i'}, {interrupt_id: 'j'}], calls);
  return out;
}"""


def test_approval_card_sends_each_decision_once_its_inputs_are_valid(modules: Page) -> None:
    out = modules.evaluate(APPROVAL_CARD)
    assert out["disabledAtFirst"] and out["disabledWithOne"]
    assert out["badJson"].startswith("a: the new arguments are not JSON")
    assert out["noMessage"] == "b: a response needs a message"
    assert out["sent"] == [
        [
            {"call_id": "i:0", "type": "edit", "args": {"x": 2}},
            {"call_id": "i:1", "type": "respond", "message": "done"},
        ]
    ]
    # An interrupt with a HITL request gets the approval card, not a resume field.
    assert out["plain"] == [{"interrupt_id": "j"}]
