import { act, screen } from '@testing-library/react';
import { ExportCountdown } from './ExportCountdown';
import { state } from '../testing/fakeTransport';
import { renderWithI18n } from '../testing/render';

describe('ExportCountdown', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2026-12-07T10:00:00Z') });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('counts down from the time the deadline appears, not from when the page opened', () => {
    const view = renderWithI18n(<ExportCountdown state={state({ deadline: null })} />);
    expect(screen.queryByTestId('export-countdown')).not.toBeInTheDocument();
    act(() => {
      jest.advanceTimersByTime(20_000); // the page was open a while before the start
    });
    view.rerender(<ExportCountdown state={state({ deadline: '2026-12-07T10:01:20Z' })} />);
    act(() => {
      jest.advanceTimersByTime(0);
    });
    expect(screen.getByTestId('export-countdown')).toHaveTextContent('Stops in 01:00');
    act(() => {
      jest.advanceTimersByTime(15_000);
    });
    expect(screen.getByTestId('export-countdown')).toHaveTextContent('Stops in 00:45');
  });

  it('says when an ended export ended, and nothing for one until stopped', () => {
    const view = renderWithI18n(
      <ExportCountdown state={state({ enabled: false, ended: true, deadline: '2026-12-07T09:57:00Z' })} />,
    );
    expect(screen.getByTestId('export-countdown')).toHaveTextContent('Ended 3m ago');
    view.rerender(<ExportCountdown state={state({ deadline: null })} />);
    expect(screen.queryByTestId('export-countdown')).not.toBeInTheDocument();
  });
});
