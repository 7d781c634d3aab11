"""`flask seed-demo` loads a month of builds on three clouds, once."""

from __future__ import annotations


def test_seed_demo_loads_a_realistic_history_once(app, db):
    from webapp.builds.models import Build, BuildFailure, BuildStateEvent, Platform

    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--admin-password", "demo-password-123"])
    assert result.exit_code == 0, result.output
    assert "Seeded builds." in result.output
    db.session.expire_all()
    count = db.session.scalar(db.select(db.func.count()).select_from(Build))
    assert count >= 200
    clouds = set(db.session.scalars(db.select(Platform.cloud).join(Build, Build.platform_id == Platform.id)))
    assert {"aws", "azure", "gcp"} <= clouds
    oldest = db.session.scalar(db.select(db.func.min(Build.created_at)))
    newest = db.session.scalar(db.select(db.func.max(Build.created_at)))
    assert (newest - oldest).days >= 25
    results = dict(db.session.execute(db.select(Build.result, db.func.count()).group_by(Build.result)).all())
    assert results["succeeded"] > results["failed"] > 0 and results.get("cancelled", 0) > 0
    assert db.session.scalar(db.select(db.func.count()).select_from(BuildFailure)) >= 10
    assert db.session.scalar(db.select(db.func.count()).select_from(BuildStateEvent)) > count * 5
    assert len(set(db.session.scalars(db.select(Build.os_version_id)))) >= 3

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(Build)) == count
