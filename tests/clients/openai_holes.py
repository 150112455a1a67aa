"""The official `openai` Python package sending the shapes issue 14 found
unscanned: `name`, tool-call ids, tool names, `tool_choice`, `user`,
`metadata` keys and values, a JSON number, and an SDK header.

Usage: openai_holes.py BASE_URL SECRET EMAIL
Prints the answer's text.
"""
import sys

from openai import OpenAI

base_url, secret, email = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=base_url, api_key="placeholder-not-a-key", max_retries=0, timeout=20,
                default_headers={"User-Agent": f"agent/1.0 ({email})"})
answer = client.chat.completions.create(
    model="gpt-test",
    user=email,
    metadata={"id": email, secret: "1", "note": secret},
    messages=[
        {"role": "user", "name": secret, "content": "hello"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": email, "type": "function", "function": {"name": email, "arguments": '{"to": "' + email + '"}'}}]},
        {"role": "tool", "tool_call_id": email, "content": "done"},
    ],
    tools=[{"type": "function", "function": {"name": email, "parameters": {
        "type": "object", "properties": {email: {"type": "string"}}}}}],
    tool_choice={"type": "function", "function": {"name": email}},
    extra_body={"card": 4111111111111111},
)
print(answer.choices[0].message.content)
