"""The outbox's choices: a send's priority, the channels, a delivery's states and failures. Apart
from the models so that the kinds' registry can check channels while the apps load."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Priority(models.TextChoices):
    NORMAL = "normal", _("普通")
    EMERGENCY = "emergency", _("紧急")


class Channel(models.TextChoices):
    """In-app is the inbox row itself and is always delivered; the others get a Delivery row."""

    INAPP = "inapp", _("站内信")
    EMAIL = "email", _("电子邮件")
    SMS = "sms", _("短信")
    PUSH = "push", _("浏览器推送")


OUTSIDE_CHANNELS: tuple[str, ...] = (Channel.EMAIL, Channel.SMS, Channel.PUSH)


class DeliveryState(models.TextChoices):
    QUEUED = "queued", _("排队中")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("失败")
    DEFERRED = "deferred", _("已推迟")


class FailureKind(models.TextChoices):
    NONE = "", _("无")
    TEMPORARY = "temporary", _("暂时失败，将重试")
    PERMANENT = "permanent", _("永久失败")
