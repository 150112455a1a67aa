"""The official `openai` and `anthropic` Python packages reading an answer
with tool calls through Warden's gateway (issue 15): the SDKs' own
accumulators (`get_final_completion`, `get_final_response`,
`get_final_message`) must accept what the gateway made of it.

Usage: tool_calls.py MODE BASE_URL MODEL [TOOL_RESULT]
MODE: chat, chat-stream, responses, responses-stream, messages, messages-stream.
With TOOL_RESULT, the conversation holds an earlier call of `web_fetch`
whose result is that text.
Prints one JSON line: {"text", "calls": [[name, arguments]], "finish"}.
"""
import json
import sys

mode, base_url, model = sys.argv[1], sys.argv[2], sys.argv[3]
result = sys.argv[4] if len(sys.argv) > 4 else None
headers = {"x-warden-session": "py-session"}
tool_names = ["exec", "read", "wipe", "message", "web_fetch"]
schema = {"type": "object", "properties": {}, "additionalProperties": False}


def out(text, calls, finish):
    print(json.dumps({"text": text, "calls": calls, "finish": finish}))


if mode.startswith("messages"):
    from anthropic import Anthropic

    client = Anthropic(base_url=base_url, api_key="placeholder-not-a-key", max_retries=0, timeout=20,
                       default_headers=headers)
    messages = [{"role": "user", "content": "tidy up the server"}]
    if result is not None:
        messages += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_f", "name": "web_fetch",
                                               "input": {"url": "https://docs.example/page"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_f", "content": result}]},
        ]
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in tool_names]
    if mode == "messages":
        m = client.messages.create(model=model, max_tokens=100, messages=messages, tools=tools)
    else:
        with client.messages.stream(model=model, max_tokens=100, messages=messages, tools=tools) as s:
            m = s.get_final_message()
    text = "".join(b.text for b in m.content if b.type == "text")
    calls = [[b.name, b.input] for b in m.content if b.type == "tool_use"]
    out(text, calls, m.stop_reason)
    sys.exit(0)

from openai import OpenAI

client = OpenAI(base_url=base_url, api_key="placeholder-not-a-key", max_retries=0, timeout=20,
                default_headers=headers)
if mode.startswith("chat"):
    messages = [{"role": "user", "content": "tidy up the server"}]
    if result is not None:
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_f", "type": "function", "function": {
                "name": "web_fetch", "arguments": json.dumps({"url": "https://docs.example/page"})}}]},
            {"role": "tool", "tool_call_id": "call_f", "content": result},
        ]
    # The stream helper auto-parses arguments and so takes strict tools only.
    tools = [{"type": "function", "function": {"name": n, "strict": True, "parameters": schema}} for n in tool_names]
    if mode == "chat":
        c = client.chat.completions.create(model=model, messages=messages, tools=tools)
    else:
        with client.chat.completions.stream(model=model, messages=messages, tools=tools) as s:
            c = s.get_final_completion()
    msg = c.choices[0].message
    calls = [[t.function.name, json.loads(t.function.arguments)] for t in (msg.tool_calls or [])]
    out(msg.content or "", calls, c.choices[0].finish_reason)
    sys.exit(0)

items = [{"role": "user", "content": "tidy up the server"}]
if result is not None:
    items += [
        {"type": "function_call", "call_id": "call_f", "name": "web_fetch",
         "arguments": json.dumps({"url": "https://docs.example/page"})},
        {"type": "function_call_output", "call_id": "call_f", "output": result},
    ]
tools = [{"type": "function", "name": n, "parameters": schema, "strict": True} for n in tool_names]
if mode == "responses":
    r = client.responses.create(model=model, input=items, tools=tools)
else:
    with client.responses.stream(model=model, input=items, tools=tools) as s:
        r = s.get_final_response()
calls = [[i.name, json.loads(i.arguments)] for i in r.output if i.type == "function_call"]
out(r.output_text, calls, r.status)
