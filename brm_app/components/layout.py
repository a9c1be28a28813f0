"""The app shell: sidebar of the sections the user may use, top bar, and a phone-sized drawer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from brm_app.components.palette import palette_button, palette_dialog
from brm_app.navigation import SECTIONS
from brm_app.state.auth import SessionState
from brm_app.state.communications import MessageBadgeState
from brm_app.state.idle import CHECK_EVERY_MS, IdleState
from brm_app.state.notifications import BellState

SIDEBAR_WIDTH = "248px"


def _brand() -> rx.Component:
    return rx.hstack(
        rx.center(
            rx.icon("handshake", size=18, color="white"),
            background=rx.color("indigo", 9),
            border_radius="8px",
            width="32px",
            height="32px",
        ),
        rx.vstack(
            rx.text("BrokerSync", weight="bold", size="3", line_height="1"),
            rx.text("Relationship manager", size="1", color_scheme="gray", line_height="1"),
            spacing="1",
        ),
        spacing="2",
        align="center",
    )


def _nav_item(label: str, href: str, icon: str) -> rx.Component:
    path = rx.State.router.url.path
    active = (path == href) | ((href != "/") & path.startswith(href + "/"))
    link = rx.link(
        rx.hstack(
            rx.icon(icon, size=18),
            rx.text(label, size="2", weight="medium"),
            spacing="3",
            align="center",
            padding_x="12px",
            padding_y="8px",
            border_radius="8px",
            width="100%",
            background=rx.cond(active, rx.color("indigo", 4), "transparent"),
            color=rx.cond(active, rx.color("indigo", 11), rx.color("gray", 11)),
            _hover={"background": rx.color("gray", 4), "color": rx.color("gray", 12)},
        ),
        href=href,
        underline="none",
        width="100%",
        aria_current=rx.cond(active, "page", "false"),
    )
    return rx.cond(SessionState.nav_hrefs.contains(href), link)


def _nav() -> rx.Component:
    return rx.el.nav(
        rx.vstack(
            *[_nav_item(s.label, s.href, s.icon) for s in SECTIONS], spacing="1", width="100%"
        ),
        aria_label="Sections",
        width="100%",
    )


def _user_card() -> rx.Component:
    return rx.hstack(
        rx.avatar(fallback=SessionState.initials, size="2", radius="full", color_scheme="indigo"),
        rx.vstack(
            rx.text(
                SessionState.name, size="2", weight="medium", trim="both", id="shell-user-name"
            ),
            rx.text(SessionState.role_label, size="1", color_scheme="gray"),
            spacing="0",
            min_width="0",
        ),
        rx.spacer(),
        rx.tooltip(
            rx.icon_button(
                rx.icon("log-out", size=16),
                variant="ghost",
                color_scheme="gray",
                on_click=SessionState.sign_out,
                aria_label="Sign out",
                id="sign-out",
            ),
            content="Sign out",
        ),
        width="100%",
        align="center",
        spacing="2",
    )


def _bell() -> rx.Component:
    """Unread notifications: pushed live after every change, re-read every minute as a fallback."""
    # The trigger is the button itself (a wrapping box would carry aria-expanded, not allowed
    # on a div); the count sits over its corner and lets clicks through.
    return rx.popover.root(
        rx.box(
            rx.popover.trigger(
                rx.icon_button(
                    rx.icon("bell", size=18), variant="ghost", aria_label="Notifications", id="bell"
                ),
            ),
            rx.cond(
                BellState.unread > 0,
                rx.badge(
                    BellState.unread,
                    color_scheme="red",
                    variant="solid",
                    radius="full",
                    size="1",
                    position="absolute",
                    top="-4px",
                    right="-6px",
                    id="bell-count",
                    pointer_events="none",  # a click on the count opens the bell too
                ),
            ),
            position="relative",
        ),
        rx.popover.content(
            rx.vstack(
                rx.hstack(
                    rx.text("Notifications", weight="bold"),
                    rx.spacer(),
                    rx.cond(
                        BellState.unread > 0,
                        rx.button(
                            "Mark all read",
                            size="1",
                            variant="ghost",
                            on_click=BellState.mark_all_read,
                        ),
                    ),
                    width="100%",
                    align="center",
                ),
                rx.cond(
                    BellState.recent.length() > 0,
                    rx.vstack(
                        rx.foreach(
                            BellState.recent,
                            lambda n: rx.box(
                                rx.hstack(
                                    rx.box(
                                        width="8px",
                                        height="8px",
                                        border_radius="4px",
                                        background=rx.cond(
                                            n["read"], "transparent", rx.color("red", 9)
                                        ),
                                        flex_shrink="0",
                                        margin_top="6px",
                                    ),
                                    rx.vstack(
                                        rx.text(
                                            n["title"],
                                            size="2",
                                            weight=rx.cond(n["read"], "regular", "medium"),
                                        ),
                                        rx.text(n["body"], size="1", color_scheme="gray"),
                                        rx.moment(
                                            n["when"],
                                            from_now=True,
                                            font_size="11px",
                                            color=rx.color("gray", 9),
                                        ),
                                        spacing="0",
                                    ),
                                    spacing="2",
                                    align="start",
                                ),
                                on_click=BellState.open(n["id"]),
                                cursor="pointer",
                                padding="6px",
                                border_radius="6px",
                                width="100%",
                                _hover={"background": rx.color("gray", 3)},
                                class_name="bell-item",
                            ),
                        ),
                        spacing="1",
                        width="100%",
                    ),
                    rx.text("Nothing new.", size="2", color_scheme="gray"),
                ),
                rx.divider(),
                rx.link("All notifications", href="/notifications", size="2"),
                spacing="2",
                width="320px",
            ),
            align="end",
        ),
    )


def _user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                # Named by hidden text, not aria-label: the visible initials are not the name.
                rx.avatar(
                    fallback=SessionState.initials, size="1", radius="full", aria_hidden="true"
                ),
                rx.el.span(
                    rx.cond(
                        SessionState.name != "",
                        "Account menu for " + SessionState.name,
                        "Account menu",
                    ),
                    class_name="sr-only",
                ),
                variant="ghost",
                id="user-menu",
            )
        ),
        rx.menu.content(
            rx.box(
                rx.text(SessionState.name, weight="medium", size="2"),
                rx.text(SessionState.email, size="1", color_scheme="gray"),
                padding="8px 12px",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("circle-user", size=14), "My account", on_click=rx.redirect("/account")
            ),
            rx.menu.item(
                rx.icon("log-out", size=14),
                "Sign out",
                on_click=SessionState.sign_out,
                id="menu-sign-out",
            ),
            align="end",
        ),
    )


def _sidebar_body() -> rx.Component:
    return rx.vstack(
        _brand(),
        rx.divider(),
        _nav(),
        rx.spacer(),
        rx.divider(),
        _user_card(),
        spacing="4",
        height="100%",
        width="100%",
        padding="16px",
    )


def _sidebar() -> rx.Component:
    return rx.box(
        _sidebar_body(),
        class_name="brm-desktop-only",
        width=SIDEBAR_WIDTH,
        min_width=SIDEBAR_WIDTH,
        height="100vh",
        # Many sections (an admin's) overflow a laptop's height: scroll, keep Sign out reachable.
        overflow_y="auto",
        position="sticky",
        top="0",
        background=rx.color("gray", 2),
        border_right=f"1px solid {rx.color('gray', 5)}",
    )


def _mobile_menu() -> rx.Component:
    return rx.drawer.root(
        rx.drawer.trigger(
            rx.icon_button(
                rx.icon("menu", size=20), variant="ghost", aria_label="Open menu", id="open-menu"
            ),
        ),
        rx.drawer.overlay(z_index="40"),
        rx.drawer.portal(
            rx.drawer.content(
                rx.box(
                    rx.drawer.close(
                        rx.icon_button(
                            rx.icon("x", size=18), variant="ghost", aria_label="Close menu"
                        ),
                        position="absolute",
                        top="12px",
                        right="12px",
                    ),
                    _sidebar_body(),
                    height="100%",
                    overflow_y="auto",
                    position="relative",
                ),
                width="80vw",
                max_width="300px",
                height="100%",
                top="0",
                left="0",
                background=rx.color("gray", 2),
                z_index="50",
            ),
        ),
        direction="left",
    )


def _messages_badge() -> Any:
    """Unread messages over every conversation: pushed live with each new message."""
    unread: Any = MessageBadgeState.unread  # the Var (mypy reads the class attribute as an int)
    return rx.link(
        rx.box(
            rx.icon_button(
                rx.icon("messages-square", size=18),
                variant="ghost",
                aria_label="Messages",
                id="messages",
                tab_index=-1,
            ),
            rx.cond(
                MessageBadgeState.unread > 0,
                rx.badge(
                    MessageBadgeState.unread,
                    color_scheme="red",
                    variant="solid",
                    radius="full",
                    size="1",
                    position="absolute",
                    top="-4px",
                    right="-6px",
                    id="messages-count",
                    pointer_events="none",
                ),
            ),
            position="relative",
        ),
        href="/communications",
        # The name holds the count the link shows (WCAG 2.5.3, axe's label-content-name-mismatch).
        aria_label=rx.cond(
            MessageBadgeState.unread > 0,
            "Messages, " + unread.to_string() + " unread",
            "Messages",
        ),
    )


def _topbar(title: str) -> rx.Component:
    return rx.hstack(
        rx.box(_mobile_menu(), class_name="brm-mobile-only"),
        rx.text(
            title,
            size="3",
            weight="medium",
            color_scheme="gray",
            white_space="nowrap",
            overflow="hidden",
            text_overflow="ellipsis",
            min_width="0",
        ),
        rx.spacer(),
        palette_button(),
        _messages_badge(),
        _bell(),
        rx.color_mode.button(variant="ghost", aria_label="Switch light or dark"),
        _user_menu(),
        align="center",
        spacing=rx.breakpoints(initial="2", sm="3"),
        padding_x=rx.breakpoints(initial="12px", md="24px"),
        height="56px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        background=rx.color("gray", 1),
        position="sticky",
        top="0",
        z_index="10",
        width="100%",
    )


def _idle_warning() -> rx.Component:
    """Before the idle sign-out: a way to stay signed in (WCAG 2.2.1). Escape also stays."""
    return rx.fragment(
        rx.moment(interval=CHECK_EVERY_MS, on_change=IdleState.check.temporal, display="none"),
        rx.alert_dialog.root(
            rx.alert_dialog.content(
                rx.alert_dialog.title("Still there?"),
                rx.alert_dialog.description(
                    "Without activity you will be signed out in about ",
                    IdleState.minutes_left,
                    rx.cond(IdleState.minutes_left == 1, " minute.", " minutes."),
                    size="2",
                ),
                rx.hstack(
                    rx.button(
                        "Sign out",
                        variant="soft",
                        color_scheme="gray",
                        on_click=SessionState.sign_out,
                    ),
                    # The dialog's cancel: it has the focus first, and Escape does the same
                    # (closing calls IdleState.set_open(False), which stays; an on_click here
                    # would make Reflex wrap the button, and the focus would miss it).
                    rx.alert_dialog.cancel(rx.button("Stay signed in", id="stay-signed-in")),
                    spacing="3",
                    justify="end",
                    margin_top="16px",
                ),
                id="idle-warning",
            ),
            open=IdleState.warning,
            on_open_change=IdleState.set_open,
        ),
    )


def shell(title: str, content: rx.Component) -> rx.Component:
    from brm_app.components.activity import activity_dialogs

    return rx.flex(
        activity_dialogs(),
        _idle_warning(),
        palette_dialog(),
        # Re-reads the bell every minute, in case a push from another worker was missed.
        rx.moment(interval=60_000, on_change=BellState.refresh.temporal, display="none"),
        _sidebar(),
        rx.box(
            _topbar(title),
            rx.box(
                content,
                padding=rx.breakpoints(initial="12px", sm="16px", md="24px"),
                max_width="1280px",
                margin_x="auto",
                width="100%",
            ),
            flex="1",
            min_width="0",
        ),
        min_height="100vh",
        width="100%",
    )


def _loading() -> rx.Component:
    return rx.center(
        rx.spinner(size="3"),
        min_height="100vh",
        width="100%",
        aria_busy="true",
        aria_label="Loading",
        id="shell-loading",
    )


def app_page(
    route: str, title: str, on_load: list[Any] | None = None
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """Register a signed-in page: the shell around it, the session loaded before its own loads."""

    def decorate(render: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def page() -> rx.Component:
            # Nothing of the shell until the session is loaded: no "Welcome back, ." for a
            # signed-out visitor on the way to the sign-in page (nor in the prerendered HTML).
            return rx.cond(SessionState.user_id > 0, shell(title, render()), _loading())

        page.__name__ = render.__name__
        return rx.page(
            route=route,
            title=f"{title} · BrokerSync",
            on_load=[
                SessionState.load,
                BellState.load,
                MessageBadgeState.load,
                *(on_load or []),
            ],
        )(page)

    return decorate
