// What a volunteer can do while the tab trains, and why it is paused when it is: their own pause
// (the GPU stops before its next step; θ and the error feedback stay as they are), an intensity
// preset, and care for the machine (on battery, under CPU pressure, hidden, or while the person is
// present in idle-only mode), data caps (DataCaps.tsx), each setting kept across reloads; and leaving the swarm.
import { capReachedText, DataCaps } from './DataCaps.tsx';
import type { PauseReason, PressureState } from './machine-care.ts';
import { PRESET_DUTY, type IntensityPreset, validIdleMinutes } from './machine-care.ts';
import type { DataCapsState } from './useDataCaps.ts';
import type { MachineCare } from './useMachineCare.ts';

const PRESETS: { preset: IntensityPreset; label: string }[] = [
  { preset: 'quiet', label: 'Quiet' },
  { preset: 'balanced', label: 'Balanced' },
  { preset: 'full', label: 'Full' },
];

/** Why the tab waits, as the banner says it, in the order of PauseReason (a data cap's words depend on the cap: capReachedText). */
const REASON_TEXT: Record<Exclude<PauseReason, 'cap'>, string> = {
  person: 'you paused it.',
  battery: 'this computer runs on its battery. Training resumes when it charges.',
  heat: 'the processor is under critical load. Training resumes when it eases.',
  present: 'you are at the computer, and this tab trains only while you are away.',
  hidden: 'this tab is hidden.',
};

const PRESSURE_TEXT: Record<PressureState, string> = {
  nominal: 'nominal',
  fair: 'fair',
  serious: 'serious: intensity halved',
  critical: 'critical: paused',
  unknown: 'unknown (this browser does not report it)',
};

const percent = (duty: number) => `${Math.round(duty * 100)}%`;

export function Controls({
  care,
  caps,
  busy,
  leave,
}: {
  care: MachineCare;
  caps: DataCapsState;
  busy: boolean;
  leave: (() => void) | null;
}) {
  const { settings, update, reasons, signals, dutyCycle } = care;
  const power =
    signals.onBattery === null ? (care.batterySupported ? 'unknown' : 'unsupported') : signals.onBattery ? 'battery' : 'charging';
  const machineReasons = [...reasons].filter((r) => r !== 'person');
  return (
    <div
      className="controls"
      data-testid="controls"
      data-reasons={[...reasons].join(' ')}
      data-duty={dutyCycle}
      data-pressure={signals.pressure}
      data-power={power}
      data-away={String(signals.away)}
    >
      {(reasons.size > 0 || signals.pressure === 'serious') && (
        <div role="status" className="banner" data-testid="care-banner">
          {reasons.size > 0 ? (
            <>
              Paused because{' '}
              {[...reasons].map((r, i) => (
                <span key={r}>
                  {i > 0 && ' Also, '}
                  {r === 'cap' ? capReachedText(caps.reached) : REASON_TEXT[r]}
                </span>
              ))}
            </>
          ) : (
            `The processor is under serious load: the GPU works ${percent(dutyCycle)} of the time instead of ${percent(PRESET_DUTY[settings.intensity])}.`
          )}
        </div>
      )}
      <p className="buttons">
        {busy &&
          (care.personPaused ? (
            <button onClick={() => care.setPersonPaused(false)}>Resume training</button>
          ) : (
            <button onClick={() => care.setPersonPaused(true)}>Pause training</button>
          ))}
        {leave && <button onClick={leave}>Leave the swarm</button>}
      </p>
      {care.personPaused && machineReasons.length > 0 && (
        <p className="hint">Resuming lifts your own pause; the tab still waits for the reasons above.</p>
      )}

      <fieldset>
        <legend>GPU intensity</legend>
        {PRESETS.map(({ preset, label }) => (
          <label key={preset} className="choice">
            <input
              type="radio"
              name="intensity"
              value={preset}
              checked={settings.intensity === preset}
              onChange={() => update({ intensity: preset })}
            />{' '}
            {label} ({percent(PRESET_DUTY[preset])} of the time)
          </label>
        ))}
      </fieldset>

      <fieldset>
        <legend>Care for this computer</legend>
        <label className="choice">
          <input
            type="checkbox"
            checked={settings.trainOnBattery}
            disabled={!care.batterySupported}
            onChange={(e) => update({ trainOnBattery: e.target.checked })}
          />{' '}
          Train on battery too
        </label>
        {!care.batterySupported && (
          <p className="hint" data-testid="battery-unsupported">
            This browser cannot tell whether the computer runs on its battery: the tab trains either way.
          </p>
        )}
        <label className="choice">
          <input type="checkbox" checked={settings.pauseWhenHidden} onChange={(e) => update({ pauseWhenHidden: e.target.checked })} /> Pause
          while this tab is hidden
        </label>
        <label className="choice">
          <input type="checkbox" checked={settings.idleOnly} onChange={(e) => update({ idleOnly: e.target.checked })} /> Train only while I
          am away
        </label>
        {settings.idleOnly && (
          <>
            <label className="choice">
              Away after{' '}
              <input
                type="number"
                min={1}
                max={1440}
                value={settings.idleMinutes}
                onChange={(e) => {
                  const minutes = Number(e.target.value);
                  if (validIdleMinutes(minutes)) update({ idleMinutes: minutes });
                }}
              />{' '}
              minutes without input
            </label>
            <p className="hint" data-testid="idle-source" data-source={care.idleDetecting ? 'idle-detection' : 'input'}>
              {care.idleDetecting
                ? "The browser's idle detection tells when you are away (a locked screen counts)."
                : 'Away means this tab is hidden, or no mouse, touch or keyboard input here for that long.'}{' '}
              {care.idlePermission === 'prompt' && (
                <button onClick={() => void care.askIdlePermission()}>Use the browser&apos;s idle detection</button>
              )}
            </p>
          </>
        )}
      </fieldset>

      <DataCaps caps={caps} />

      <dl className="care-status" data-testid="care-status">
        <dt>Power</dt>
        <dd data-testid="care-power">
          {power === 'unsupported'
            ? 'the browser cannot tell'
            : power === 'unknown'
              ? 'not known yet'
              : power === 'battery'
                ? 'on battery'
                : 'charging or plugged in'}
        </dd>
        <dt>Processor pressure</dt>
        <dd data-testid="care-pressure">{PRESSURE_TEXT[signals.pressure]}</dd>
        <dt>GPU intensity</dt>
        <dd data-testid="care-duty">
          {reasons.size > 0 ? `paused (${percent(dutyCycle)} when training)` : `${percent(dutyCycle)} of the time`}
        </dd>
        {settings.idleOnly && (
          <>
            <dt>You</dt>
            <dd data-testid="care-away">{signals.away ? 'away' : 'at the computer'}</dd>
          </>
        )}
      </dl>
    </div>
  );
}
