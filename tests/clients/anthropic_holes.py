"""The official `anthropic` Python package sending the shapes issue 14
found unscanned: a `tool_use` block's `id` and `input` keys, `metadata`,
a base64 text document, and real JSON under a sensitive key.

Usage: anthropic_holes.py BASE_URL SECRET EMAIL
Prints the answer's text.
"""
import base64
import sys

from anthropic import Anthropic

base_url, secret, email = sys.argv[1], sys.argv[2], sys.argv[3]
client = Anthropic(base_url=base_url, api_key="placeholder-not-a-key", max_retries=0, timeout=20)
doc = base64.b64encode(f"contact {email}, password {secret}".encode()).decode()
answer = client.messages.create(
    model="claude-test",
    max_tokens=100,
    metadata={"user_id": email},
    messages=[
        {"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": doc}},
            {"type": "text", "text": "summarise"},
        ]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {email: {"password": 12345678}, "id": secret}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "ok"}]},
    ],
)
print(answer.content[0].text)
