// Pause, resume, cancel and an intensity throttle for a running training loop, checked between
// steps (a GPU step cannot be interrupted halfway, and stopping between steps keeps the state
// consistent). The throttle is a duty cycle: at 0.25 the loop rests three times as long as its
// last step took before starting the next, so a volunteer's GPU works a quarter of the time.

/** The smallest duty cycle accepted: below it a step would wait minutes for its turn. */
const MIN_DUTY_CYCLE = 0.05;

export class TrainingControl {
  private paused = false;
  private wakers: (() => void)[] = [];
  private duty = 1;
  /** When the loop last left checkpoint(): the step since then is what the duty cycle rests after. */
  private workingSince: number | undefined;
  cancelled = false;

  constructor(private readonly now: () => number = () => performance.now()) {}

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake();
  }

  cancel(): void {
    this.cancelled = true;
    this.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get dutyCycle(): number {
    return this.duty;
  }

  /** The share of time the loop may work, in [MIN_DUTY_CYCLE, 1]; applies from the next step. */
  setDutyCycle(duty: number): void {
    if (!Number.isFinite(duty) || duty < MIN_DUTY_CYCLE || duty > 1)
      throw new RangeError(`the duty cycle is a share of time in [${MIN_DUTY_CYCLE}, 1], not ${duty}`);
    this.duty = duty;
    this.wake(); // a rest in progress is cut short and recomputed
  }

  /** Called between steps: rests as the duty cycle asks, waits while paused; returns false once cancelled. */
  async checkpoint(): Promise<boolean> {
    if (this.workingSince !== undefined && this.duty < 1) {
      const worked = this.now() - this.workingSince;
      const restUntil = this.now() + (worked * (1 - this.duty)) / this.duty;
      while (!this.cancelled && this.now() < restUntil) {
        const duty = this.duty;
        await this.sleep(restUntil - this.now());
        if (this.duty !== duty) break;
      }
    }
    while (this.paused && !this.cancelled) await new Promise<void>((wake) => this.wakers.push(wake));
    this.workingSince = this.now();
    return !this.cancelled;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((done) => {
      const finish = () => {
        clearTimeout(timer);
        done();
      };
      const timer = setTimeout(finish, ms);
      this.wakers.push(finish);
    });
  }

  private wake(): void {
    for (const wake of this.wakers.splice(0)) wake();
  }
}
