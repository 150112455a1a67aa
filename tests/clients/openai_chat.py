"""The official `openai` Python package, pointed at Warden's gateway.

Usage: openai_chat.py BASE_URL MESSAGE
Prints one JSON line: the answer's text, not streamed and streamed.
"""
import json
import sys

from openai import OpenAI

base_url, message = sys.argv[1], sys.argv[2]
# The agent holds no real key: Warden drops this and injects the vault's.
client = OpenAI(base_url=base_url, api_key="placeholder-not-a-key", max_retries=0, timeout=20)
whole = client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": message}])
stream = client.chat.completions.create(
    model="gpt-test",
    messages=[{"role": "user", "content": message}],
    stream=True,
    stream_options={"include_usage": True},
)
parts = []
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
print(json.dumps({"whole": whole.choices[0].message.content, "streamed": "".join(parts)}))
