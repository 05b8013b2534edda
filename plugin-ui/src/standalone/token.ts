/** The bearer token of the standalone page: this browser tab's sessionStorage only. */

export const TOKEN_KEY = 'flowgate.token';

export const readToken = (storage: Storage = window.sessionStorage): string | null => {
  try {
    return storage.getItem(TOKEN_KEY) ?? null;
  } catch {
    return null;
  }
};

export const writeToken = (token: string, storage: Storage = window.sessionStorage): void => {
  storage.setItem(TOKEN_KEY, token);
};

export const clearToken = (storage: Storage = window.sessionStorage): void => {
  storage.removeItem(TOKEN_KEY);
};

/** A pasted token, with or without its "Bearer " prefix, as an Authorization value. */
export const bearer = (token: string): string => {
  const trimmed = token.trim();
  return /^bearer\s+/i.test(trimmed) ? `Bearer ${trimmed.replace(/^bearer\s+/i, '')}` : `Bearer ${trimmed}`;
};
