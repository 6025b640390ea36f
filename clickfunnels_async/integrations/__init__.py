"""Optional integrations with web frameworks (each needs its extra, e.g. ``clickfunnels-async[fastapi]``)."""
