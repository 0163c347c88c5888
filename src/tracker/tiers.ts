/**
 * Announce-list tiers (BEP 12) as a plain data structure: no I/O, no timers, randomness injected.
 *
 * Owns: the order in which trackers are tried. Invariants: tiers keep the order of the
 * announce-list; each tier is shuffled once, at construction (BEP 12: "shuffled randomly" when
 * the list is loaded); a tracker that answers moves to the front of its own tier and never to
 * another tier; a URL appears at most once in all tiers (first occurrence wins, since announcing
 * twice to one tracker per round only doubles its load); empty tiers are dropped.
 */

/** Returns a float in [0, 1), like Math.random. */
export type RandomSource = () => number;

export class TrackerTiers {
  private readonly tierList: string[][];

  constructor(announceList: readonly (readonly string[])[], random: RandomSource = Math.random) {
    const seen = new Set<string>();
    this.tierList = [];
    for (const tier of announceList) {
      const urls = tier.filter((u) => {
        if (u.length === 0 || seen.has(u)) return false;
        seen.add(u);
        return true;
      });
      if (urls.length > 0) this.tierList.push(shuffle(urls, random));
    }
  }

  /** Tiers in announce order, each in the order to try its trackers. A snapshot. */
  get tiers(): string[][] {
    return this.tierList.map((t) => [...t]);
  }

  /** Every URL, tier by tier. */
  get urls(): string[] {
    return this.tierList.flat();
  }

  /** BEP 12: "If a connection with a tracker is successful, it will be moved to the front of the tier." */
  promote(url: string): void {
    for (const tier of this.tierList) {
      const i = tier.indexOf(url);
      if (i > 0) {
        tier.splice(i, 1);
        tier.unshift(url);
      }
      if (i >= 0) return;
    }
  }
}

/** Fisher-Yates with the injected source; returns a new array. */
export function shuffle<T>(items: readonly T[], random: RandomSource): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
