"""Pull GGUF models from the Hugging Face hub into the local store.

Nothing here imports ``huggingface_hub`` at module level: ``--offline`` must set
``HF_HUB_OFFLINE=1`` before the library is first imported (see ``hub.apply_offline``).
"""
