"""Anthropic's Messages API (``/v1/messages``): a pure translation over the internal Turn."""
