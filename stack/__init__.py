"""The local stack: Apache Kafka (KRaft, from Maven Central) and the eddy engine as background
processes under `.stack/`, plus topic administration. CLI: `python -m stack up|down|status|...`.
"""

from stack.control import Status, down, status, up
from stack.errors import StackError
from stack.settings import Settings
from stack.topics import CONTRACT_TOPICS, create_topics, delete_topics, list_topics

__all__ = [
    "CONTRACT_TOPICS", "Settings", "StackError", "Status", "create_topics", "delete_topics",
    "down", "list_topics", "status", "up",
]
