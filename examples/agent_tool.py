"""A "run_python" tool for an agent loop, on clients/python/pysandbox_client.py.

TOOL_SCHEMA is the tool as a model API takes it (openai_tool() gives the
function-calling wrapping); RunPythonTool turns one tool call (its arguments
as a dict or a JSON string) into a sandboxed run and the outcome into the
text the model reads next; agent_loop() runs a model until it answers
without calling the tool. The model is any callable, so the loop runs with
a real API client or, in the tests, a scripted one:

    model(messages, tools) -> {"content": str, "tool_calls": [{"id", "name", "arguments"}]}

Run as a script (PSB_CLI=build/pysandbox python3 examples/agent_tool.py) it
plays one scripted turn and prints the transcript.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))

from pysandbox_client import PySandbox, PySandboxError  # noqa: E402

MAX_TIMEOUT_S = 120

TOOL_SCHEMA = {
    "name": "run_python",
    "description": (
        "Run Python 3.11 code in a sandbox and read its output. Each call is a fresh, isolated "
        "process: nothing persists between calls. numpy, pandas and matplotlib (Agg backend) are "
        "available. Assign the value you want back to the global `result` (JSON-serializable); "
        "print() output is returned too. The optional `inputs` object is the global `inputs`. "
        "No network, no subprocesses, no files outside the empty working directory, no package "
        "installs. timeout_seconds defaults to 30 (at most %d)." % MAX_TIMEOUT_S
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "Python source to run"},
            "inputs": {"type": "object", "description": "JSON object bound to the global `inputs`"},
            "timeout_seconds": {"type": "number", "description": "wall-clock limit in seconds",
                                "minimum": 0.1, "maximum": MAX_TIMEOUT_S},
        },
        "required": ["code"],
        "additionalProperties": False,
    },
}


def openai_tool():
    """TOOL_SCHEMA in the {"type": "function", "function": ...} form."""
    return {"type": "function", "function": {"name": TOOL_SCHEMA["name"],
                                             "description": TOOL_SCHEMA["description"],
                                             "parameters": TOOL_SCHEMA["input_schema"]}}


def _clip(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + "\n[... %d more characters not shown]" % (len(text) - limit)


def format_outcome(outcome, max_chars=8000):
    """The text a model reads for an outcome: labelled blocks, each clipped to max_chars."""
    parts = []
    for stream in ("stdout", "stderr"):
        if outcome.get(stream):
            note = " (truncated by the sandbox)" if outcome.get(stream + "_truncated") else ""
            parts.append("%s%s:\n%s" % (stream, note, _clip(outcome[stream].rstrip("\n"), max_chars)))
    ok = outcome.get("status") == "ok"
    if ok and outcome.get("result") is not None:
        parts.append("result: " + _clip(json.dumps(outcome["result"], ensure_ascii=False), max_chars))
    if not ok:
        e = outcome.get("error") or {}
        head = "error (%s): " % (e.get("kind") or "internal")
        if e.get("type"):
            head += e["type"] + ": "
        parts.append(head + (e.get("message") or ""))
        if e.get("traceback"):
            parts.append("traceback:\n" + _clip(e["traceback"], max_chars))
    figures = outcome.get("figures") or []
    if figures:
        parts.append("figures: " + ", ".join("%s %dx%d" % (f["mime"], f["width"], f["height"]) for f in figures)
                     + " (shown to the user)")
    files = outcome.get("files") or []
    if files:
        parts.append("files: " + ", ".join("%s (%d bytes)" % (f["name"], f["size"]) for f in files))
    if not parts:
        parts.append("(no output and no result)")
    return "\n\n".join(parts)


class RunPythonTool:
    """The tool: call it with a tool call's arguments; it returns the model's text.

    Only code, inputs and timeout_seconds reach the sandbox; anything else a
    model invents is refused in the text, so the model can correct itself.
    outcomes keeps every full outcome (figures and files for the user).
    """

    def __init__(self, sandbox, max_chars=8000, default_timeout=30):
        self.sandbox = sandbox
        self.max_chars = max_chars
        self.default_timeout = default_timeout
        self.outcomes = []

    def _arguments(self, arguments):
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError as e:
                raise ValueError("the arguments are not JSON: %s" % e)
        if not isinstance(arguments, dict):
            raise ValueError("the arguments must be an object")
        extra = sorted(set(arguments) - set(TOOL_SCHEMA["input_schema"]["properties"]))
        if extra:
            raise ValueError("unknown argument(s) %s: run_python takes code, inputs and timeout_seconds"
                             % ", ".join(extra))
        code = arguments.get("code")
        if not isinstance(code, str) or not code.strip():
            raise ValueError("code must be a non-empty string")
        inputs = arguments.get("inputs")
        if inputs is not None and not isinstance(inputs, dict):
            raise ValueError("inputs must be an object")
        timeout = arguments.get("timeout_seconds", self.default_timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0.1 <= timeout <= MAX_TIMEOUT_S:
            raise ValueError("timeout_seconds must be a number from 0.1 to %d" % MAX_TIMEOUT_S)
        return code, inputs, float(timeout)

    def __call__(self, arguments):
        try:
            code, inputs, timeout = self._arguments(arguments)
        except ValueError as e:
            return "invalid arguments: %s" % e
        try:
            outcome = self.sandbox.run(code, inputs=inputs, timeout=timeout)
        except PySandboxError as e:
            return "the sandbox refused the call (%s%s): %s" % (e.code, ", " + e.field if e.field else "", e)
        self.outcomes.append(outcome)
        return format_outcome(outcome, self.max_chars)


def agent_loop(model, tool, user_message, max_turns=8, system=None):
    """Runs model until it answers without a tool call; returns (answer, messages)."""
    messages = ([{"role": "system", "content": system}] if system else [])
    messages.append({"role": "user", "content": user_message})
    for _ in range(max_turns):
        reply = model(messages, [TOOL_SCHEMA])
        calls = reply.get("tool_calls") or []
        messages.append({"role": "assistant", "content": reply.get("content", ""), "tool_calls": calls})
        if not calls:
            return reply.get("content", ""), messages
        for call in calls:
            if call.get("name") == TOOL_SCHEMA["name"]:
                text = tool(call.get("arguments", {}))
            else:
                text = "unknown tool %r: the one tool is run_python" % call.get("name")
            messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": text})
    return None, messages


if __name__ == "__main__":
    def scripted(messages, tools):
        if messages[-1]["role"] == "user":
            return {"content": "", "tool_calls": [{"id": "1", "name": "run_python", "arguments": json.dumps(
                {"code": "import statistics\nresult = statistics.mean(inputs['xs'])", "inputs": {"xs": [2, 4, 9]}})}]}
        return {"content": "The mean is " + messages[-1]["content"].split("result: ")[-1] + "."}

    with PySandbox.spawn(os.environ.get("PSB_CLI", "pysandbox")) as sb:
        answer, transcript = agent_loop(scripted, RunPythonTool(sb), "What is the mean of 2, 4 and 9?")
    for m in transcript:
        print("%s: %s" % (m["role"], m.get("content") or json.dumps(m.get("tool_calls"))))
