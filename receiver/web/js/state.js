// @ts-check
// What the modules share while the page is open: who is signed in, the
// notice for the next view, and the life of the current view (a generation
// that bumps on every navigation, and what to clean up when it does).

/** @typedef {import('./api.js').Whoami} Whoami */

/**
 * What a view gets: whether it is still the one shown (its async work is
 * dropped once not), and a hook to run when it is left.
 * @typedef {{ alive: () => boolean, onLeave: (fn: () => void) => void }} ViewContext
 */

export const state = {
  /** @type {Whoami | null} the whoami answer */
  user: null,
  loginShown: false,
  /** @type {string | null} notice shown on the next view (e.g. after a delete) */
  flash: null,
  /** bumps on every navigation; async work of older views is dropped */
  generation: 0,
  /** @type {Array<() => void>} */
  cleanups: [],
  /** @type {ReturnType<typeof setTimeout> | null} */
  badgeTimer: null,
  /** bumps when the badge's polling stops; an older loop's answers are dropped */
  badgeLoop: 0,
};

/** Ends the current view: its context stops being alive, its cleanups run. */
export function leaveView() {
  state.generation++;
  for (const cleanup of state.cleanups.splice(0)) cleanup();
}
