"""Outgoing webhook event type ids, as ClickFunnels spells them.

Taken from the event catalog (inventory §5, "Event types"): 83 ids, which is also the catalog's own
count. The spelling is irregular on purpose (``one-time-order.completed`` next to
``one_time_order.refunded``): these strings are what ClickFunnels sends, so they are copied, never
normalised. Ids that only older guide pages mention (``contact.unsubscribed``,
``renewal-invoice-payment-declined``, ``contact/applied_tag.*``) are not in the catalog and are left out;
handlers can still subscribe to any string.

Constant names are derived mechanically: ``/``, ``.`` and ``-`` become ``_``, then upper case.
"""

from __future__ import annotations

from typing import Final


class EventType:
    """Namespace of event type ids (``EventType.CONTACT_CREATED == "contact.created"``).

    Plain ``str`` constants rather than an ``Enum`` so they compare equal to the strings found in
    payloads and in ``event_type_ids`` without ``.value``.
    """

    __slots__ = ()

    # Appointments
    APPOINTMENTS_SCHEDULED_EVENT_CANCELED: Final = "appointments/scheduled_event.canceled"
    APPOINTMENTS_SCHEDULED_EVENT_CREATED: Final = "appointments/scheduled_event.created"
    APPOINTMENTS_SCHEDULED_EVENT_RESCHEDULED: Final = "appointments/scheduled_event.rescheduled"

    # Blog posts
    BLOGS_POST_CREATED: Final = "blogs/post.created"
    BLOGS_POST_DELETED: Final = "blogs/post.deleted"
    BLOGS_POST_PUBLISHED: Final = "blogs/post.published"
    BLOGS_POST_UPDATED: Final = "blogs/post.updated"

    # Communities
    COMMUNITIES_POST_CREATED: Final = "communities/post.created"
    COMMUNITIES_POSTS_COMMENT_CREATED: Final = "communities/posts/comment.created"

    # Contacts
    CONTACT_CREATED: Final = "contact.created"
    CONTACT_DELETED: Final = "contact.deleted"
    CONTACT_IDENTIFIED: Final = "contact.identified"
    CONTACT_UPDATED: Final = "contact.updated"
    CONTACTS_APPLIED_TAG_CREATED: Final = "contacts/applied_tag.created"
    CONTACTS_APPLIED_TAG_DELETED: Final = "contacts/applied_tag.deleted"

    # Courses
    COURSE_CREATED: Final = "course.created"
    COURSE_DELETED: Final = "course.deleted"
    COURSE_PUBLISHED: Final = "course.published"
    COURSE_UPDATED: Final = "course.updated"
    COURSES_ENROLLMENT_COURSE_COMPLETED: Final = "courses/enrollment.course_completed"
    COURSES_ENROLLMENT_CREATED: Final = "courses/enrollment.created"
    COURSES_ENROLLMENT_DELETED: Final = "courses/enrollment.deleted"
    COURSES_ENROLLMENT_SUSPENDED: Final = "courses/enrollment.suspended"
    COURSES_ENROLLMENT_UPDATED: Final = "courses/enrollment.updated"
    COURSES_LESSON_CREATED: Final = "courses/lesson.created"
    COURSES_LESSON_DELETED: Final = "courses/lesson.deleted"
    COURSES_LESSON_PUBLISHED: Final = "courses/lesson.published"
    COURSES_LESSON_UPDATED: Final = "courses/lesson.updated"
    COURSES_SECTION_CREATED: Final = "courses/section.created"
    COURSES_SECTION_DELETED: Final = "courses/section.deleted"
    COURSES_SECTION_PUBLISHED: Final = "courses/section.published"
    COURSES_SECTION_UPDATED: Final = "courses/section.updated"

    # Forms
    FORM_SUBMISSION_CREATED: Final = "form_submission.created"

    # Fulfillments
    FULFILLMENT_CREATED: Final = "fulfillment.created"
    FULFILLMENT_UPDATED: Final = "fulfillment.updated"

    # Orders (one-time and subscription orders are both "Order")
    ONE_TIME_ORDER_COMPLETED: Final = "one-time-order.completed"
    ONE_TIME_ORDER_INVOICE_PAID: Final = "one-time-order.invoice.paid"
    ONE_TIME_ORDER_REFUNDED: Final = "one_time_order.refunded"
    ORDER_COMPLETED: Final = "order.completed"
    ORDER_CREATED: Final = "order.created"
    ORDER_DELETED: Final = "order.deleted"
    ORDER_UPDATED: Final = "order.updated"

    # Invoices
    ORDERS_INVOICE_ABANDONED: Final = "orders/invoice.abandoned"
    ORDERS_INVOICE_CREATED: Final = "orders/invoice.created"
    ORDERS_INVOICE_FULFILLED: Final = "orders/invoice.fulfilled"
    ORDERS_INVOICE_PAID: Final = "orders/invoice.paid"
    ORDERS_INVOICE_PAST_DUE: Final = "orders/invoice.past_due"
    ORDERS_INVOICE_REFUNDED: Final = "orders/invoice.refunded"
    ORDERS_INVOICE_REISSUED: Final = "orders/invoice.reissued"
    ORDERS_INVOICE_UPDATED: Final = "orders/invoice.updated"
    ORDERS_INVOICE_VOIDED: Final = "orders/invoice.voided"
    ORDERS_INVOICES_RESTOCK_CREATED: Final = "orders/invoices/restock.created"
    ORDERS_INVOICES_RESTOCK_UPDATED: Final = "orders/invoices/restock.updated"

    # Transactions (Stripe / Payments AI)
    ORDERS_TRANSACTION_CREATED: Final = "orders/transaction.created"
    ORDERS_TRANSACTION_UPDATED: Final = "orders/transaction.updated"

    # OAuth apps
    PLATFORM_APPLICATION_DISCONNECTED: Final = "platform_application.disconnected"

    # Products
    PRODUCT_CREATED: Final = "product.created"
    PRODUCT_UPDATED: Final = "product.updated"
    PRODUCTS_VARIANT_CREATED: Final = "products/variant.created"
    PRODUCTS_VARIANT_UPDATED: Final = "products/variant.updated"

    # CRM
    SALES_OPPORTUNITY_CLOSED: Final = "sales/opportunity.closed"
    SALES_OPPORTUNITY_CREATED: Final = "sales/opportunity.created"
    SALES_OPPORTUNITY_DELETED: Final = "sales/opportunity.deleted"
    SALES_OPPORTUNITY_MOVED_STAGE: Final = "sales/opportunity.moved_stage"
    SALES_OPPORTUNITY_UPDATED: Final = "sales/opportunity.updated"

    # Subscriptions
    SUBSCRIPTION_ACTIVATED: Final = "subscription.activated"
    SUBSCRIPTION_CANCELED: Final = "subscription.canceled"
    SUBSCRIPTION_CHURNED: Final = "subscription.churned"
    SUBSCRIPTION_COMPLETED: Final = "subscription.completed"
    SUBSCRIPTION_DOWNGRADED: Final = "subscription.downgraded"
    SUBSCRIPTION_FIRST_PAYMENT_RECEIVED: Final = "subscription.first_payment_received"
    SUBSCRIPTION_INVOICE_PAID: Final = "subscription.invoice.paid"
    SUBSCRIPTION_LINE_ITEMS_CHANGED: Final = "subscription.line_items.changed"
    SUBSCRIPTION_MODIFIED: Final = "subscription.modified"  # Payments AI only
    SUBSCRIPTION_REACTIVATED: Final = "subscription.reactivated"
    SUBSCRIPTION_TRIAL_CONVERTED: Final = "subscription.trial_converted"
    SUBSCRIPTION_TRIAL_ENDED: Final = "subscription.trial_ended"
    SUBSCRIPTION_TRIAL_STARTED: Final = "subscription.trial_started"
    SUBSCRIPTION_UPGRADED: Final = "subscription.upgraded"

    # Workflow-based, V1 endpoints only
    RUNS_STEP_DONTRUNME: Final = "runs/step.dontrunme"
    WORKFLOWS_INTEGRATION_STEP_EXECUTED: Final = "workflows_integration_step.executed"
    WORKFLOWS_STEPS_DELIVER_WEBHOOK_STEP_EXECUTED: Final = (
        "workflows/steps/deliver_webhook_step.executed"
    )
    WORKFLOWS_STEPS_INTEGRATION_STEP_EXECUTED: Final = "workflows/steps/integration_step.executed"

    def __init__(self) -> None:
        raise TypeError("EventType is a namespace of constants; use its attributes directly")


# Built from the class so the two can never disagree.
ALL_EVENT_TYPES: Final[frozenset[str]] = frozenset(
    value for name, value in vars(EventType).items() if name.isupper() and isinstance(value, str)
)
