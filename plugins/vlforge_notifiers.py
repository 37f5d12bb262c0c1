"""vlforge's alerts: release regressions, improvements and failures, through Slack and email.

Two channels, each configured by an Airflow connection and nothing else (the
webhook URL and the SMTP credentials never appear in code or recipes):

- ``vlforge_slack``: a Slack incoming webhook, sent with the Slack provider's
  ``SlackWebhookNotifier``. Connection type ``slackwebhook`` (or ``http``): the
  password holds the whole webhook URL, or ``host`` the base URL
  (``https://hooks.slack.com/services``) and the password the token ``T.../B.../...``.
- ``vlforge_smtp``: email, sent with the SMTP provider's ``SmtpNotifier``. An ``smtp``
  connection; its extra says who gets the mail: ``{"to": "a@x.org, b@x.org",
  "from_email": "vlforge@x.org"}``.

Alerts degrade, they never fail a run (docs/adr/0001): a channel whose connection
is missing or incomplete is skipped with a warning, and a send that fails is
logged. ``release_failure_alert`` is the DAG's ``on_failure_callback`` (gate
failures and task failures); ``send_alert`` is what the ``compare_and_promote``
task calls with ``vlforge.promotion.Decision.message()``. Provider imports happen
inside the functions, so importing this module at DAG parse time is cheap.
"""

from __future__ import annotations

import html
import logging
from typing import Any

log = logging.getLogger(__name__)

SLACK_CONN_ID = "vlforge_slack"
SMTP_CONN_ID = "vlforge_smtp"


def _connection(conn_id: str) -> Any | None:  # noqa: ANN401 - an Airflow Connection
    """The connection, or ``None`` with a warning when it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.warning("vlforge alert not sent through %s: no Airflow connection %r is defined", conn_id, conn_id)
    except Exception as error:  # noqa: BLE001 - e.g. no secrets backend reachable outside a task
        log.warning("vlforge alert not sent through %s: its connection could not be read: %s", conn_id, error)
    return None


def send_slack(text: str, context: dict[str, Any] | None = None, conn_id: str = SLACK_CONN_ID) -> bool:
    """Post ``text`` to the Slack incoming webhook of connection ``conn_id``.

    Args:
        text: the message (Slack ``text``; plain text with newlines).
        context: the Airflow context, if any.
        conn_id: the connection.

    Returns:
        Whether the message was sent; ``False`` (logged) when the connection is missing or the post failed.
    """
    connection = _connection(conn_id)
    if connection is None:
        return False
    if not (connection.password or "").strip():
        log.warning("vlforge alert not sent through %s: its password holds no webhook URL or token", conn_id)
        return False
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    try:
        # notify(), not __call__: the text is not a Jinja template and must not be rendered as one.
        SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=text).notify(context or {})
    except Exception:  # noqa: BLE001 - observability degrades, it never fails the run
        log.exception("vlforge alert through %s failed", conn_id)
        return False
    return True


def send_email(subject: str, text: str, context: dict[str, Any] | None = None, conn_id: str = SMTP_CONN_ID) -> bool:
    """Mail ``text`` (as preformatted HTML) to the recipients named in the SMTP connection's extra ``to``.

    Args:
        subject: the subject line.
        text: the body.
        context: the Airflow context, if any.
        conn_id: the connection.

    Returns:
        Whether the mail was sent; ``False`` (logged) when the connection is missing, names no
        recipient, or sending failed.
    """
    connection = _connection(conn_id)
    if connection is None:
        return False
    extra = connection.extra_dejson
    recipients = [address.strip() for address in str(extra.get("to") or "").split(",") if address.strip()]
    if not recipients:
        log.warning("vlforge alert not sent through %s: its extra names no recipient ('to')", conn_id)
        return False
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    try:
        SmtpNotifier(
            to=recipients,
            from_email=extra.get("from_email"),
            subject=subject,
            html_content=f"<pre>{html.escape(text)}</pre>",
            smtp_conn_id=conn_id,
        ).notify(context or {})
    except Exception:  # noqa: BLE001 - observability degrades, it never fails the run
        log.exception("vlforge alert through %s failed", conn_id)
        return False
    return True


def send_alert(text: str, context: dict[str, Any] | None = None) -> list[str]:
    """Send ``text`` through every channel: Slack, then email (its first line is the subject).

    Returns:
        The connection ids it went out through.
    """
    subject = text.splitlines()[0][:200] if text else "vlforge"
    sent = [SLACK_CONN_ID] if send_slack(text, context) else []
    if send_email(subject, text, context):
        sent.append(SMTP_CONN_ID)
    return sent


def failure_message(context: dict[str, Any]) -> str:
    """The alert for a failed task: DAG, task, run, dataset and the error (a gate's error lists every failure)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = context.get("run_id") or getattr(ti, "run_id", "?")
    params = context.get("params") or {}
    error = context.get("exception")
    lines = [
        f"vlforge: {dag_id} FAILED at task {task_id} (dataset {params.get('dataset', '?')}, run {run_id}).",
        f"{type(error).__name__}: {error}" if error is not None else "no exception recorded",
    ]
    return "\n".join(lines)


def release_failure_alert(context: dict[str, Any]) -> None:
    """``on_failure_callback`` of the release DAG's tasks: gate failures and task failures alike."""
    try:
        send_alert(failure_message(context), context)
    except Exception:  # noqa: BLE001 - a callback must never raise
        log.exception("vlforge failure alert could not be built or sent")
