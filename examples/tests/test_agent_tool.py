"""agent_tool.py driven by scripted models (no network) against the real server."""

import json
import os
import subprocess
import sys

from agent_tool import TOOL_SCHEMA, RunPythonTool, agent_loop, format_outcome, openai_tool


class ScriptedModel:
    """Plays a fixed list of replies; each may be a function of the messages so far."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.seen = []  # the messages each turn was shown

    def __call__(self, messages, tools):
        assert tools == [TOOL_SCHEMA]
        self.seen.append([dict(m) for m in messages])
        reply = self.replies.pop(0)
        return reply(messages) if callable(reply) else reply


def call(code, id="c1", **more):
    return {"content": "", "tool_calls": [{"id": id, "name": "run_python",
                                           "arguments": json.dumps(dict(code=code, **more))}]}


def test_schema_shapes():
    assert TOOL_SCHEMA["input_schema"]["required"] == ["code"]
    fn = openai_tool()["function"]
    assert fn["name"] == "run_python" and fn["parameters"] is TOOL_SCHEMA["input_schema"]


def test_a_tool_call_runs_and_the_model_reads_the_result(sb):
    model = ScriptedModel(
        call("import pandas as pd\nprint('rows', 3)\nresult = int(pd.Series(inputs['xs']).sum())",
             inputs={"xs": [1, 2, 3]}),
        lambda ms: {"content": "The sum is %s." % ms[-1]["content"].split("result: ")[1]},
    )
    tool = RunPythonTool(sb)
    answer, messages = agent_loop(model, tool, "Sum 1, 2, 3")
    assert answer == "The sum is 6."
    tool_msg = messages[2]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "c1"
    assert tool_msg["content"] == "stdout:\nrows 3\n\nresult: 6"
    assert tool.outcomes[0]["status"] == "ok"


def test_an_exception_is_shown_with_its_traceback_and_the_model_retries(sb):
    model = ScriptedModel(
        call("result = 1 / 0"),
        call("result = 1 / 2", id="c2"),
        {"content": "Half."},
    )
    answer, messages = agent_loop(model, RunPythonTool(sb), "Divide")
    assert answer == "Half."
    first = messages[2]["content"]
    assert first.startswith("error (exception): ZeroDivisionError: division by zero")
    assert "traceback:" in first
    assert messages[4]["content"] == "result: 0.5"


def test_refusals_and_limits_read_as_text(sb):
    tool = RunPythonTool(sb)
    assert tool({"code": "import socket"}).startswith("error (import_denied): ")
    assert tool({"code": "import time\ntime.sleep(5)", "timeout_seconds": 0.5}).startswith("error (timeout)")
    assert tool({"code": "pass"}) == "(no output and no result)"


def test_bad_arguments_are_answered_not_run(sb):
    tool = RunPythonTool(sb)
    assert tool("{not json").startswith("invalid arguments: the arguments are not JSON")
    assert "unknown argument(s) allow_import" in tool({"code": "1", "allow_import": ["socket"]})
    assert tool({"code": ""}) == "invalid arguments: code must be a non-empty string"
    assert "timeout_seconds" in tool({"code": "1", "timeout_seconds": 10_000})
    assert tool.outcomes == []


def test_an_unknown_tool_and_the_turn_limit():
    model = ScriptedModel(*[{"content": "", "tool_calls": [{"id": "x", "name": "shell", "arguments": "{}"}]}] * 2)
    answer, messages = agent_loop(model, lambda a: "unused", "hi", max_turns=2)
    assert answer is None
    assert messages[2]["content"] == "unknown tool 'shell': the one tool is run_python"


def test_long_output_is_clipped_and_figures_and_files_are_named(sb):
    tool = RunPythonTool(sb, max_chars=100)
    text = tool({"code": "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
                         "open('a.csv', 'w').write('x\\n1\\n')\nprint('y' * 500)"})
    assert "[... 400 more characters not shown]" in text
    assert "figures: image/png 640x480 (shown to the user)" in text
    assert "files: a.csv (4 bytes)" in text


def test_format_outcome_of_a_truncated_stream():
    text = format_outcome({"status": "ok", "stdout": "abc", "stdout_truncated": True, "result": None})
    assert text == "stdout (truncated by the sandbox):\nabc"


def test_the_script_plays_one_turn():
    script = os.path.join(os.path.dirname(__file__), "..", "agent_tool.py")
    out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120, check=True)
    assert "tool: result: 5" in out.stdout
    assert "assistant: The mean is 5." in out.stdout
