"""Stage 4, model: fine-tune, evaluate with business metrics, predict, track."""
