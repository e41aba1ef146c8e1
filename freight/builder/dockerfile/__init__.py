"""The Dockerfile language, as BuildKit's dockerfile frontend reads it (see ``parser``)."""
