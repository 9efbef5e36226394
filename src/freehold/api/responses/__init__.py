"""OpenAI's Responses API (``/v1/responses``): a pure translation over the internal Turn."""
