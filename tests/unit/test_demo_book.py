"""The demo book lets a new user try every part: traders on the portal (with the printed
password, seeing their firm's portfolio), mobiles for SMS, and recording disclosures recorded
at most firms (the warning only where it is missing)."""

from __future__ import annotations

from sqlmodel import col, select

from brm_app.auth.passwords import verify_password
from brm_app.db import unit_of_work
from brm_app.models.firm import Firm
from brm_app.models.trader import Trader
from brm_app.models.user import Role, User
from brm_app.services import demo, portfolios
from brm_app.services.authentication import actor_of


def test_demo_traders_on_the_portal_mobiles_and_disclosures(sqlite_url, tmp_path):
    credentials = tmp_path / "demo.txt"
    with unit_of_work(write=True) as db:
        result = demo.load(db, credentials_file=credentials)
    assert len(result.portal) == demo.PORTAL_FIRMS
    text = credentials.read_text()
    assert all(email in text for email in result.portal)

    with unit_of_work() as db:
        for email in result.portal:
            trader = db.exec(select(Trader).where(Trader.email_bidx == _bidx(email))).one()
            assert trader.portal_access and trader.view_portfolio and trader.mobile
            user = db.get(User, trader.user_id)
            # Like the demo staff: the printed password, kept.
            assert user.role == Role.TRADER and not user.must_change_password
            assert verify_password(result.password, user.password_hash)
            found = portfolios.portal_portfolio(db, actor=actor_of(user, ip=None))
            assert found is not None and found.shared and found.portfolio is not None
        sms = db.exec(select(Trader).where(col(Trader.receive_sms).is_(True))).all()
        assert sms and all(t.mobile and t.mobile.startswith("+") for t in sms)
        assert len({t.mobile for t in sms}) == len(sms)
        firms = db.exec(select(Firm)).all()
        told = [f for f in firms if f.recording_disclosed_on is not None]
        untold = {f.name for f in firms} - {f.name for f in told}
        assert untold == {
            name for i, (name, _, _) in enumerate(demo.DEMO_FIRMS) if i % 8 == demo.UNDISCLOSED
        }
        assert len(untold) == 3


def _bidx(email: str) -> str:
    from brm_app.encryption.columns import blind_index

    return blind_index("traders", "email", email)
