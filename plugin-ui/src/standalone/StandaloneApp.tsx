import { useCallback, useEffect, useMemo, useState, type FC } from 'react';
import {
  Alert,
  AlertActionLink,
  Bullseye,
  Button,
  Flex,
  FlexItem,
  Label,
  Page,
  PageSection,
  Spinner,
} from '@patternfly/react-core';
import { ExternalLinkAltIcon, UserIcon } from '@patternfly/react-icons';
import type { GatewayConnection } from '../gateway/connection';
import { toGatewayError, type GatewayError } from '../gateway/errors';
import { requestData } from '../gateway/request';
import type { Viewer } from '../gateway/types';
import { FlowsPage, type FlowsPageProps } from '../flows/FlowsPage';
import { VIEWER_QUERY } from '../graphql/operations';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { createStandaloneConnection, GRAPHQL_PATH } from './standaloneConnection';
import { clearToken, readToken, writeToken } from './token';
import { TokenForm } from './TokenForm';
import './standalone.css';

type Phase =
  | { kind: 'checking' }
  | { kind: 'login'; message: string | null }
  | { kind: 'failed'; error: GatewayError; token: string | null }
  | { kind: 'ready'; token: string | null; viewer: Viewer };

/** Asks the gateway who the token (or no token) is; keeps the token only if it is accepted. */
const verify = async (
  createConnection: NonNullable<StandaloneAppProps['createConnection']>,
  storage: Storage,
  token: string | null,
): Promise<Phase> => {
  try {
    const data = await requestData<{ viewer: Viewer }>(createConnection(token), {
      query: VIEWER_QUERY,
      operationName: 'Viewer',
    });
    if (token) {
      writeToken(token, storage);
    }
    return { kind: 'ready', token, viewer: data.viewer };
  } catch (caught) {
    const error = toGatewayError(caught);
    if (error.code === 'UNAUTHENTICATED') {
      clearToken(storage);
      return { kind: 'login', message: token ? error.message : null };
    }
    return { kind: 'failed', error, token };
  }
};

export interface StandaloneAppProps {
  createConnection?: (token: string | null, onUnauthenticated?: () => void) => GatewayConnection;
  storage?: Storage;
  /** Passed on to the page (tests). */
  pageProps?: Partial<Omit<FlowsPageProps, 'connection'>>;
}

/**
 * The page on its own, as `flowgate serve` shows it at `/`: first a query; if the gateway wants a
 * token, a token form; then the same page as in the console.
 */
export const StandaloneApp: FC<StandaloneAppProps> = ({
  createConnection = createStandaloneConnection,
  storage = window.sessionStorage,
  pageProps,
}) => {
  const { t } = useFlowgateTranslation();
  const [phase, setPhase] = useState<Phase>({ kind: 'checking' });
  const [verifying, setVerifying] = useState(false);

  // First the stored token (or none); the answer decides between the page and the token form.
  useEffect(() => {
    let current = true;
    void verify(createConnection, storage, readToken(storage)).then((next) => {
      if (current) {
        setPhase(next);
      }
    });
    return () => {
      current = false;
    };
  }, [createConnection, storage]);

  const submit = (token: string | null) => {
    setVerifying(true);
    void verify(createConnection, storage, token).then((next) => {
      setVerifying(false);
      setPhase(next);
    });
  };

  const sessionEnded = useCallback(() => {
    clearToken(storage);
    setPhase({ kind: 'login', message: t('The gateway no longer accepts the token. Enter a token again.') });
  }, [storage, t]);

  const readyToken = phase.kind === 'ready' ? phase.token : null;
  const isReady = phase.kind === 'ready';
  const connection = useMemo(
    () => (isReady ? createConnection(readyToken, sessionEnded) : null),
    [isReady, readyToken, createConnection, sessionEnded],
  );

  const logOut = () => {
    clearToken(storage);
    setPhase({ kind: 'login', message: null });
  };

  let content;
  switch (phase.kind) {
    case 'checking':
      content = (
        <PageSection isFilled>
          <Bullseye>
            <Spinner aria-label={t('Connecting to the gateway')} />
          </Bullseye>
        </PageSection>
      );
      break;
    case 'login':
      content = (
        <PageSection isFilled>
          <TokenForm
            busy={verifying}
            message={phase.message}
            onSubmit={submit}
          />
        </PageSection>
      );
      break;
    case 'failed':
      content = (
        <PageSection isFilled>
          <Alert
            variant="danger"
            title={t('Cannot reach the gateway')}
            actionLinks={
              <AlertActionLink
                onClick={() => {
                  submit(phase.token);
                }}
              >
                {t('Retry')}
              </AlertActionLink>
            }
          >
            {phase.error.message}
          </Alert>
        </PageSection>
      );
      break;
    case 'ready':
      content = connection && (
        <FlowsPage
          {...pageProps}
          connection={connection}
          headerActions={
            <Flex alignItems={{ default: 'alignItemsCenter' }} spaceItems={{ default: 'spaceItemsSm' }}>
              <FlexItem>
                <Button component="a" href={GRAPHQL_PATH} variant="link" icon={<ExternalLinkAltIcon />} iconPosition="end">
                  {t('GraphiQL')}
                </Button>
              </FlexItem>
              {phase.viewer.user && (
                <FlexItem>
                  <Label icon={<UserIcon />} data-test="viewer-user">
                    {phase.viewer.user}
                  </Label>
                </FlexItem>
              )}
              {phase.token && (
                <FlexItem>
                  <Button variant="secondary" onClick={logOut}>
                    {t('Log out')}
                  </Button>
                </FlexItem>
              )}
            </Flex>
          }
        />
      );
      break;
  }

  return <Page sidebar={null}>{content}</Page>;
};
