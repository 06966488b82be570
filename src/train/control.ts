// Pause, resume and cancel for a running training loop, checked between steps (a GPU step
// cannot be interrupted halfway, and stopping between steps keeps the state consistent).

export class TrainingCancelled extends Error {
  override name = 'TrainingCancelled';
  constructor() {
    super('training was cancelled');
  }
}

export class TrainingControl {
  private paused = false;
  private resumeWaiters: (() => void)[] = [];
  cancelled = false;

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const wake of this.resumeWaiters.splice(0)) wake();
  }

  cancel(): void {
    this.cancelled = true;
    this.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Called between steps: waits while paused; returns false once cancelled. */
  async checkpoint(): Promise<boolean> {
    while (this.paused && !this.cancelled) await new Promise<void>((wake) => this.resumeWaiters.push(wake));
    return !this.cancelled;
  }
}
