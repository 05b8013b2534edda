import { useState, type FC } from 'react';
import {
  ActionGroup,
  Alert,
  Bullseye,
  Button,
  Card,
  CardBody,
  CardTitle,
  Content,
  Form,
  FormGroup,
  TextInput,
  Title,
} from '@patternfly/react-core';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';

export interface TokenFormProps {
  onSubmit: (token: string) => void;
  /** Why a token is asked for again: the gateway's own sentence. */
  message?: string | null;
  busy: boolean;
}

/** "Enter token", as the Kubernetes Dashboard asks for one. */
export const TokenForm: FC<TokenFormProps> = ({ onSubmit, message, busy }) => {
  const { t } = useFlowgateTranslation();
  const [token, setToken] = useState('');
  return (
    <Bullseye>
      <Card isLarge className="flowgate__token-card">
        <CardTitle>
          <Title headingLevel="h1">{t('Enter token')}</Title>
        </CardTitle>
        <CardBody>
          <Content component="p">
            {t(
              'The gateway needs a Kubernetes bearer token, for example the output of oc whoami -t. It is kept in this browser tab only and sent to the gateway with every request.',
            )}
          </Content>
          {message && (
            <Alert
              isInline
              component="h2"
              variant="danger"
              title={t('The gateway did not accept the token')}
              data-test="token-error"
            >
              {message}
            </Alert>
          )}
          <Form
            onSubmit={(event) => {
              event.preventDefault();
              if (token.trim()) {
                onSubmit(token.trim());
              }
            }}
          >
            <FormGroup label={t('Token')} isRequired fieldId="flowgate-token">
              <TextInput
                id="flowgate-token"
                type="password"
                autoComplete="off"
                isRequired
                value={token}
                onChange={(_event, value) => {
                  setToken(value);
                }}
              />
            </FormGroup>
            <ActionGroup>
              <Button type="submit" variant="primary" isDisabled={busy || !token.trim()} isLoading={busy}>
                {t('Sign in')}
              </Button>
            </ActionGroup>
          </Form>
        </CardBody>
      </Card>
    </Bullseye>
  );
};
