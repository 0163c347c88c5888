/**
 * createTracker: the one place a tracker URL becomes a Tracker. http: and https: go to the HTTP
 * client (BEP 3), udp: to the UDP client (BEP 15); anything else (wss:, typos) is a
 * TrackerError('unsupported'), never a throw of another type.
 */
import { HttpTracker, type HttpTrackerOptions } from './http-tracker.js';
import { TrackerError } from './tracker-error.js';
import type { Tracker } from './types.js';
import { UdpTracker, type UdpTrackerOptions } from './udp-tracker.js';

export interface CreateTrackerOptions {
  http?: HttpTrackerOptions;
  udp?: UdpTrackerOptions;
}

export function createTracker(url: string, options: CreateTrackerOptions = {}): Tracker {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch (e) {
    throw new TrackerError('unsupported', `invalid tracker URL: ${url}`, { url, cause: e });
  }
  switch (protocol) {
    case 'http:':
    case 'https:':
      return new HttpTracker(url, options.http);
    case 'udp:':
      return new UdpTracker(url, options.udp);
    default:
      throw new TrackerError('unsupported', `unsupported tracker protocol ${protocol} in ${url}`, { url });
  }
}
