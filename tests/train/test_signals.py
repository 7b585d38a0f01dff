"""Stop signals: at once outside training, after the step inside it, held while a file is saved;
and the test hook that sends them at named moments."""
import os
import signal

import pytest

from minicnn.train import signals
from minicnn.train.signals import StopRequested, StopSignals, moment


def kill(signum=signal.SIGTERM):
    os.kill(os.getpid(), signum)


def test_outside_training_the_first_signal_stops_at_once():
    with StopSignals() as stop:
        with pytest.raises(StopRequested):
            kill()
            raise AssertionError("the handler did not raise")
    assert stop.signum == signal.SIGTERM and stop.name == "SIGTERM"


def test_inside_training_the_first_waits_for_the_step_and_the_second_stops_at_once():
    with StopSignals() as stop, stop.training():
        kill()
        assert stop.signum == signal.SIGTERM                      # noted; the loop checks it after the step
        with pytest.raises(KeyboardInterrupt):
            kill(signal.SIGINT)
            raise AssertionError("the handler did not raise")
    assert stop.again == signal.SIGINT


def test_signals_wait_for_the_file_being_saved(capsys):
    with StopSignals() as stop, stop.training():
        saved = []
        with pytest.raises(KeyboardInterrupt):
            with stop.held():
                kill()
                kill(signal.SIGINT)
                saved.append("complete")                         # the save goes on to its end
        assert saved == ["complete"]
    assert "Ctrl-C: finishing the file being saved first" in capsys.readouterr().err


def test_a_held_block_without_signals_raises_nothing_even_after_an_earlier_stop():
    with StopSignals() as stop:
        with pytest.raises(StopRequested):
            kill()
        with stop.held():                                        # the stop checkpoint, after the first signal
            pass


def test_handlers_are_put_back():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals():
        assert signal.getsignal(signal.SIGTERM) != before
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_hook_sends_a_signal_the_nth_time_a_moment_is_reached(monkeypatch):
    monkeypatch.setenv(signals.TEST_HOOK, "tick#3=SIGTERM")
    monkeypatch.setattr(signals, "_reached", signals.collections.Counter())
    with StopSignals() as stop, stop.training():
        moment("tick")
        moment("tock")
        moment("tick")
        assert stop.signum is None
        moment("tick")
        assert stop.signum == signal.SIGTERM
