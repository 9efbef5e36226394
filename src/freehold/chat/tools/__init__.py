"""Tool calls and structured output: JSON schema → grammar, one parser per template family."""
