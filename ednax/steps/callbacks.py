"""Built-in Lightning callbacks for the config's `callbacks:` section.

Lightning's own callbacks are wrapped so that their constructor is ednax's schema: typed
keyword parameters, read without importing torch. A user's callback is any
`pytorch_lightning.Callback` registered with `@register("callback", name)`.
"""

from __future__ import annotations

from pytorch_lightning.callbacks import Timer


class TimeLimit(Timer):
    """Stop training at the first epoch end after a time budget; the run completes.

    The time spent travels in last.ckpt, so a resumed run counts from where it stopped.
    Useful below a cluster job's time limit: the run ends on its own, evaluated and saved.

    Parameters
    ----------
    duration : str
        Longest training time as "DD:HH:MM:SS" (e.g. "00:11:30:00").
    """

    def __init__(self, *, duration: str = "00:12:00:00"):
        super().__init__(duration=duration, interval="epoch", verbose=False)
        self.duration = duration
