/**
 * Cursor paging state for a newest-first list. The API only goes forward (next_cursor),
 * so the cursors of the pages already seen are kept to go back.
 */
export interface PagingState {
  /** cursors[i] opens page i; page 0 has none. */
  cursors: (string | null)[];
  page: number;
}

export const firstPage = (): PagingState => ({ cursors: [null], page: 0 });

export function currentCursor(state: PagingState): string | null {
  return state.cursors[state.page] ?? null;
}

/** Move to the next page, remembering the cursor the API returned for it. */
export function nextPage(state: PagingState, nextCursor: string | null): PagingState {
  if (!nextCursor) return state;
  const cursors = state.cursors.slice(0, state.page + 1);
  cursors.push(nextCursor);
  return { cursors, page: state.page + 1 };
}

export function previousPage(state: PagingState): PagingState {
  if (state.page === 0) return state;
  return { cursors: state.cursors, page: state.page - 1 };
}

export const hasPrevious = (state: PagingState): boolean => state.page > 0;
