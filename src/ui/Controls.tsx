// What a volunteer can do while the tab trains: pause and resume (the GPU stops before its next
// step; θ and the error feedback stay as they are), an intensity throttle (the share of time the
// GPU may work), pausing by itself while the tab is hidden, and leaving the swarm.
import { useEffect, useRef, useState } from 'react';

const HIDDEN_KEY = 'webloco.pauseWhenHidden';
const INTENSITY_KEY = 'webloco.intensity';

function stored(key: string, fallback: string): string {
  try {
    return localStorage.getItem(key) ?? fallback;
  } catch {
    return fallback; // storage refused (a private window): the default
  }
}

function store(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private windows may refuse storage: the setting then lasts until the tab closes.
  }
}

export function Controls({
  paused,
  setPaused,
  setDutyCycle,
  leave,
}: {
  paused: boolean;
  setPaused: (p: boolean) => Promise<void>;
  setDutyCycle: (d: number) => Promise<void>;
  leave: () => void;
}) {
  const [intensity, setIntensity] = useState(() => Number(stored(INTENSITY_KEY, '100')));
  const [whenHidden, setWhenHidden] = useState(() => stored(HIDDEN_KEY, 'false') === 'true');
  /** The pause came from the tab being hidden (and ends when it is shown again). */
  const hiddenPause = useRef(false);

  useEffect(() => {
    void setDutyCycle(intensity / 100);
  }, [intensity, setDutyCycle]);

  useEffect(() => {
    if (!whenHidden) return;
    const onChange = () => {
      if (document.hidden && !paused) {
        hiddenPause.current = true;
        void setPaused(true);
      } else if (!document.hidden && hiddenPause.current) {
        hiddenPause.current = false;
        void setPaused(false);
      }
    };
    document.addEventListener('visibilitychange', onChange);
    return () => document.removeEventListener('visibilitychange', onChange);
  }, [whenHidden, paused, setPaused]);

  return (
    <div className="controls" data-testid="controls">
      <p className="buttons">
        {paused ? (
          <button onClick={() => ((hiddenPause.current = false), void setPaused(false))}>Resume training</button>
        ) : (
          <button onClick={() => void setPaused(true)}>Pause training</button>
        )}
        <button onClick={leave}>Leave the swarm</button>
      </p>
      <p className="buttons">
        <label htmlFor="intensity">GPU intensity</label>
        <input
          id="intensity"
          type="range"
          min={10}
          max={100}
          step={10}
          value={intensity}
          aria-valuetext={`${intensity}% of the time`}
          onChange={(e) => {
            const v = Number(e.target.value);
            setIntensity(v);
            store(INTENSITY_KEY, String(v));
          }}
        />
        <output htmlFor="intensity" data-testid="intensity">
          {intensity}%
        </output>
        <label>
          <input
            type="checkbox"
            checked={whenHidden}
            onChange={(e) => {
              setWhenHidden(e.target.checked);
              store(HIDDEN_KEY, String(e.target.checked));
            }}
          />{' '}
          Pause while this tab is hidden
        </label>
      </p>
    </div>
  );
}
