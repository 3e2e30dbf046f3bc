"""Shared fixtures (a fake clock, a recording listener, a clean task_values) and the markers.

``slow`` and ``dask`` are applied here, in one place, so that ``python -m pytest
-m "not slow"`` is the fast inner loop and plain ``python -m pytest`` runs all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from daskcluster import DaskCluster
from strategies import EventRecorder

from flowkit import FakeClock, task_values


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the scheduler sleeps on it."""
    return FakeClock()


@pytest.fixture
def recorder() -> EventRecorder:
    """A RunListener that keeps every state change."""
    return EventRecorder()


@pytest.fixture(autouse=True)
def _clean_set_outside_run() -> Iterator[None]:
    """``task_values.set`` outside a run keeps values module-wide: start and end empty."""
    task_values.set_outside_run.clear()
    yield
    task_values.set_outside_run.clear()


@pytest.fixture(autouse=True)
def flowkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private FLOWKIT_HOME per test: runs are recorded and logged there, not in the repo."""
    home = tmp_path / "flowkit-home"
    monkeypatch.setenv("FLOWKIT_HOME", str(home))
    return home


#: Every executor flowkit has: the conformance suites run on each.
EXECUTORS = ("inline", "local", "dask")


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A real dask scheduler and two workers on 127.0.0.1, for the whole test session."""
    cluster = DaskCluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each executor's name in turn; "dask" runs on the session's cluster."""
    if request.param == "dask":
        cluster = request.getfixturevalue("dask_cluster")
        monkeypatch.setenv("FLOWKIT_DASK_ADDRESS", cluster.address)
    return request.param


#: Whole files of slow tests (process kills, signals, the dask cluster), under tests/.
SLOW_FILES = (
    "executors/test_isolation.py",
    "executors/test_memory.py",
    "executors/test_kills.py",
    "cli/test_cli_signals.py",
    "executors/test_dask.py",
    "executors/test_dask_resources.py",
    "cli/test_cli_output.py",
    "store/test_read_only.py",
    "store/test_disk_full.py",
    "cli/test_cli_limits.py",
    "operations/test_serve_process.py",
    "notify/test_serve_alerts.py",
    "executors/test_channel.py",
    "definition/test_script.py",
    "definition/test_sql.py",
    "definition/test_notebook.py",
    "definition/test_dbt.py",
    "report/test_browser.py",
)

#: Tests measured at 0.25 s or more (``python -m pytest --durations=0``, 2 shared cores):
#: they start processes, run the CLI as a process, or draw many random DAGs.
SLOW_TESTS = {
    "engine/test_pools.py": (
        "test_a_pool_of_two_runs_two_of_its_tasks_at_a_time_on_the_local_executor",
    ),
    "engine/test_shared_pools.py": (
        "test_two_runs_of_the_home_never_run_two_tasks_of_a_shared_pool_of_one",
    ),
    "engine/test_admission_resources.py": (
        "test_a_20_gib_task_beside_another_waits_on_a_24_gib_machine",
        "test_a_task_waiting_for_memory_with_nothing_running_starts_once_it_is_free",
    ),
    "interop/test_bundle.py": (
        "test_a_dbt_task_runs_from_a_bundle",
        "test_the_example_bundle_runs_green_locally",
        "test_the_documentations_notebook_task_runs_with_its_options_once_its_notebook_is_here",
        "test_the_documentations_job_is_read_and_its_jar_tasks_named",
    ),
    "cli/test_gantt.py": (
        "test_show_gantt_takes_the_terminal_width",
        "test_show_gantt_of_a_run_with_a_retry",
    ),
    "interop/test_export.py": (
        "test_the_settings_round_trip_through_the_databricks_sdk",
        "test_every_example_round_trips_through_the_databricks_sdk",
    ),
    "report/test_layout.py": ("test_boxes_never_overlap_and_every_edge_points_right",),
    "report/test_ui.py": (
        "test_unknown_ids_and_traversal_are_a_404_page",
        "test_ctrl_c_stops_the_ui_cleanly",
        "test_binding_beyond_loopback_warns_that_there_is_no_authentication",
    ),
    "executors/test_conformance.py": ("test_inline_and_local_reach_the_same_final_states",),
    "store/test_concurrency.py": ("test_two_processes_record_runs_into_one_new_store_at_once",),
    "store/test_crash.py": (
        "test_a_killed_orchestrator_leaves_a_consistent_interrupted_run",
        "test_a_writer_killed_mid_stream_leaves_no_succeeded_task_without_values",
    ),
    "store/test_recorder.py": ("test_ticks_keep_the_heartbeat_going_while_every_task_is_quiet",),
    "cli/test_cli.py": (
        "test_exit_codes_as_a_process",
        "test_max_parallel_reaches_the_run",
        "test_the_example_as_a_process",
        "test_the_example_retries_clean_and_passes_the_row_count",
        "test_the_example_warns_when_ingest_found_no_rows",
    ),
    "cli/test_cli_history.py": (
        "test_history_commands_from_a_real_process",
        "test_runs_filters_by_flow_and_limits",
        "test_runs_lists_newest_first_with_short_id_state_start_and_duration",
    ),
    "cli/test_cli_repair.py": (
        "test_a_repair_that_fails_again_exits_1",
        "test_repair_after_a_fix_reruns_only_failed_and_upstream_failed_tasks",
        "test_repair_completes_a_run_whose_orchestrator_was_killed",
        "test_repair_params_override_the_stored_ones",
        "test_repair_with_rerun_dependents_reruns_everything_downstream",
    ),
    "definition/test_condition_tasks.py": (
        "test_the_branching_example_runs_green_from_the_command_line",
    ),
    "definition/test_conditions.py": (
        "test_the_branch_not_taken_is_excluded_and_a_join_after_it_runs",
    ),
    "test_examples.py": (
        "test_the_files_example_leaves_no_temporary_folder_behind",
        "test_the_scheduled_example_lists_its_fires_and_runs_as_serve_would",
        "test_the_alerts_example_alerts_only_when_there_are_no_rows",
        "test_the_seed_lakehouse_runs_its_four_kinds_from_the_command_line",
    ),
    "definition/test_foreach.py": (
        "test_every_source_of_inputs_and_results_in_input_order",
        "test_repair_reruns_only_the_failed_iterations",
        "test_the_files_example_runs_green_and_show_lists_its_iterations",
    ),
    "cli/test_graph.py": ("test_every_drawn_line_is_an_edge_and_every_edge_is_drawn",),
    "planning/test_plan.py": (
        "test_a_long_cycle_does_not_overflow_the_stack",
        "test_plan_order_levels_and_leaves_on_random_dags",
    ),
    "test_public_api.py": ("test_importing_flowkit_configures_no_logging_output",),
    "engine/test_repair.py": (
        "test_repair_reruns_only_what_failed_and_keeps_the_values_of_what_succeeded",
    ),
    "engine/test_runtime.py": (
        "test_random_dags_match_the_reference_in_any_completion_order",
        "test_random_dags_match_the_reference_inline",
        "test_the_clock_moves_only_for_retry_delays_in_random_dags",
    ),
    "engine/test_runtime_kept.py": ("test_listeners_tick_in_real_time_while_a_task_runs",),
    "operations/test_backfill.py": (
        "test_a_backfill_runs_each_slot_as_its_own_run_grouped_under_one_id",
    ),
    "notify/test_notifications.py": (
        "test_the_duration_warning_arrives_while_the_run_is_still_running",
        "test_delivery_runs_beside_the_scheduler_not_in_its_way",
    ),
    "notify/test_secrets.py": (
        "test_a_secret_never_appears_in_output_logs_show_the_store_or_payloads",
    ),
    "engine/test_flow_timeout.py": (
        "test_the_timeout_stops_running_attempts_and_leaves_no_process",
    ),
    "definition/test_shell.py": (
        "test_a_parameter_given_with_p_is_one_shell_word",
        "test_a_timeout_kills_the_command_and_everything_it_started",
        "test_the_shell_step_example_runs_green_from_the_command_line",
    ),
    "planning/test_simulate.py": (
        "test_simulate_equals_a_real_inline_run",
        "test_simulate_equals_a_real_run_with_timeouts",
    ),
    "definition/test_subflow.py": (
        "test_a_child_run_that_succeeds_makes_the_task_succeed",
        "test_a_failed_run_flow_task_is_retried_with_a_new_child_run",
        "test_a_timed_out_run_flow_task_kills_the_child_run_and_its_tasks",
        "test_the_child_output_lands_in_the_attempt_log",
    ),
    "test_testing.py": ("test_the_fixtures_work_in_a_fresh_project_without_a_conftest",),
}


#: Whole files of dask tests: their own clusters, ephemeral ones, or the session's.
DASK_FILES = ("executors/test_dask.py", "executors/test_dask_resources.py")


def _uses_dask(item: pytest.Item) -> bool:
    if "dask_cluster" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "dask" in callspec.params.values()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the dask tests ``dask`` and ``slow``, and the measured slow tests ``slow``."""
    tests = Path(__file__).parent
    for item in items:
        path = PurePosixPath(Path(item.path).relative_to(tests).as_posix())
        name = getattr(item, "originalname", item.name)
        if _uses_dask(item) or str(path) in DASK_FILES:
            item.add_marker(pytest.mark.dask)
            item.add_marker(pytest.mark.slow)
        elif str(path) in SLOW_FILES or name in SLOW_TESTS.get(str(path), ()):
            item.add_marker(pytest.mark.slow)
