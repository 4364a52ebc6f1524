"""A deterministic synthetic mushroom-growth data set (no download: numpy only).

Each row is one grow bag on one day: climate in the fruiting chamber and the days since the
substrate was inoculated. The label is the growth stage a grower would record that day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ("temperature_c", "humidity_pct", "co2_ppm", "light_hours", "days_since_inoculation")
STAGES = ("colonization", "pinning", "fruiting", "harvest")


def make_dataset(n_samples: int = 2000, seed: int = 42) -> tuple[pd.DataFrame, np.ndarray]:
    """Features as a DataFrame (named columns give the model signature names) and stage labels."""
    rng = np.random.default_rng(seed)
    temperature = rng.normal(21.0, 3.0, n_samples).clip(10, 32)
    humidity = rng.normal(88.0, 6.0, n_samples).clip(55, 100)
    co2 = rng.normal(900.0, 350.0, n_samples).clip(400, 2500)
    light = rng.integers(0, 17, n_samples).astype(float)
    days = rng.integers(0, 45, n_samples).astype(float)

    # Development speeds up near 22 degC and with humid, fresh (low CO2) air and some light;
    # "biological age" is days scaled by how good the conditions were.
    comfort = (
        1.0
        - np.abs(temperature - 22.0) / 15.0
        + (humidity - 85.0) / 60.0
        - (co2 - 800.0) / 4000.0
        + np.minimum(light, 12.0) / 60.0
    )
    age = days * comfort.clip(0.3, 1.4) + rng.normal(0.0, 1.5, n_samples)
    labels = np.digitize(age, bins=[14.0, 20.0, 28.0])

    frame = pd.DataFrame(
        {
            "temperature_c": temperature.round(1),
            "humidity_pct": humidity.round(1),
            "co2_ppm": co2.round(0),
            "light_hours": light,
            "days_since_inoculation": days,
        }
    )
    return frame, labels.astype(np.int64)
