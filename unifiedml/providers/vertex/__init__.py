"""Vertex AI provider (GAPIC ``google.cloud.aiplatform_v1`` over REST); see :mod:`.provider`."""
