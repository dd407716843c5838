"""Exercises `assay serve` with the official `openai` client: list models, complete, chat,
stream, echo log-probabilities and a rejected request. Prints one JSON object of results.

Usage: python3 openai_client.py http://127.0.0.1:PORT MODEL
"""

import json
import sys

import openai


def main() -> None:
    base, model = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    out = {"models": [m.id for m in client.models.list().data]}

    prompt = "Question: Which city is the capital of France?\nAnswer:"
    c = client.completions.create(model=model, prompt=prompt, max_tokens=12, temperature=0)
    out["completion"] = c.choices[0].text
    pieces = []
    for chunk in client.completions.create(
        model=model, prompt=prompt, max_tokens=12, temperature=0, stream=True
    ):
        if chunk.choices:
            pieces.append(chunk.choices[0].text)
    out["stream"] = "".join(pieces)
    out["stream_chunks"] = len(pieces)

    messages = [{"role": "user", "content": "Hello there"}]
    ch = client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0)
    out["chat"] = ch.choices[0].message.content
    parts = []
    for chunk in client.chat.completions.create(
        model=model, messages=messages, max_tokens=8, temperature=0, stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    out["chat_stream"] = "".join(parts)

    e = client.completions.create(
        model=model, prompt="The river moved", max_tokens=1, temperature=0, echo=True, logprobs=1
    )
    lp = e.choices[0].logprobs
    out["echo_tokens"] = len(lp.tokens)
    out["echo_offsets"] = len(lp.text_offset)

    try:
        client.completions.create(model=model, prompt="x", max_tokens=4, top_p=0)
        out["bad_request_status"] = 200
    except openai.APIStatusError as err:
        out["bad_request_status"] = err.status_code
        out["bad_request_param"] = (err.body or {}).get("param")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
