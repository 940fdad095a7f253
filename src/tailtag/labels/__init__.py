"""Label files of every format -> one `LabelTable`."""

from tailtag.labels._rows import Problems
from tailtag.labels.table import LabelTable, Task, from_label_lists

__all__ = ["LabelTable", "Problems", "Task", "from_label_lists"]
