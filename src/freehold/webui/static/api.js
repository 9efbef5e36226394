// The page's API client: the key, GET /v1/models, and a streamed chat completion.
"use strict";

window.freeholdApi = (() => {
  const KEY = "freehold.apiKey";

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function headers() {
    const key = localStorage.getItem(KEY);
    const result = { "Content-Type": "application/json" };
    if (key) result.Authorization = `Bearer ${key}`;
    return result;
  }

  async function failure(response) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) { /* not JSON: keep the status line */ }
    if (response.status === 401) message = `API key refused: ${message}`;
    return new ApiError(response.status, message);
  }

  async function models() {
    const response = await fetch("/v1/models", { headers: headers() });
    if (!response.ok) throw await failure(response);
    return (await response.json()).data || [];
  }

  // POST a streamed chat completion; onDelta({content, reasoning}) per event,
  // returns the usage of the final event (or null).
  async function chat(body, onDelta, signal) {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
      signal,
    });
    if (!response.ok) throw await failure(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let usage = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (const line of lines) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return usage;
        const event = JSON.parse(data);
        if (event.error) throw new ApiError(500, event.error.message || "the stream failed");
        if (event.usage) usage = event.usage;
        for (const choice of event.choices || []) {
          const delta = choice.delta || {};
          onDelta({
            content: delta.content || "",
            reasoning: delta.reasoning_content || delta.reasoning || "",
          });
        }
      }
    }
    return usage;
  }

  return {
    ApiError, models, chat,
    setKey: (key) => localStorage.setItem(KEY, key),
    hasKey: () => Boolean(localStorage.getItem(KEY)),
  };
})();
